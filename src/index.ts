export { enqueueDebugPayload, closeDebugPayloadProducer } from './producer/default-producer.ts';
export {
  createDebugPayloadProducer,
  DROP_REASONS,
  type DebugPayloadMeta,
  type DebugPayloadProducer,
  type DropReason,
  type EnqueueResult,
  type ProducerOptions,
  type ProducerStats,
} from './producer/producer.ts';
export {
  startArchiveConsumer,
  type ArchiveConsumer,
  type ArchiveConsumerOptions,
} from './consumer/archive-consumer.ts';
export {
  openDebugPayloadStream,
  loadDebugPayload,
  describeDebugPayload,
  resolvePayloadKey,
  type PayloadRef,
  type PullOptions,
  type DebugPayloadStream,
  type ReplayHandler,
} from './pull.ts';
export { listDebugPayloads, type ListPayloadsOptions, type ListedPayload } from './list-payloads.ts';
export { createS3Client, type S3ClientOptions } from './storage/s3-client.ts';
export type { ArchivedPayloadMetadata } from './storage/object-metadata.ts';
export { buildObjectKey, parseObjectKey, type ParsedObjectKey } from './object-key.ts';
export {
  defaults,
  environmentVariables,
  producerSettingsFromEnv,
  consumerSettingsFromEnv,
  type ProducerSettings,
  type ConsumerSettings,
} from './config.ts';
export {
  DebugArchiverError,
  ConfigError,
  InvalidMetaError,
  PayloadNotFoundError,
  IntegrityError,
  type DebugArchiverErrorCode,
} from './errors.ts';
export { encodePayload, type EncodeOptions } from './encoding/encode-payload.ts';
export type { LayerStats } from './encoding/layers.ts';
