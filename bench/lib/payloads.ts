import { gzipSync } from 'node:zlib';
import { samplePayload, type SamplePayload } from '../../src/demo/sample-payload.ts';

/**
 * Benchmark payloads: recorded HTTP exchanges of a bank-facing task worker (the demo's
 * deterministic generator), with server-rendered HTML pages and JSON API answers as bodies,
 * request and response headers, logs and the task's outcome.
 */

export interface BenchPayload {
  label: string;
  targetBytes: number;
  value: SamplePayload;
  json: string;
  bytes: Buffer;
}

export interface PayloadShape {
  label: string;
  jsonBytes: number;
  exchanges: number;
  htmlBodies: number;
  jsonBodies: number;
  logLines: number;
  /** JSON bytes / gzip bytes at level 6. */
  gzipRatio: number;
}

export function sizeLabel(bytes: number): string {
  if (bytes >= 1e6) return `${Math.round(bytes / 1e6)} MB`;
  return `${Math.round(bytes / 1e3)} KB`;
}

const cache = new Map<string, BenchPayload>();

/** The payload of about `targetBytes` of JSON for `seed`, built once per process. */
export function benchPayload(targetBytes: number, seed = 7): BenchPayload {
  const id = `${targetBytes}:${seed}`;
  const cached = cache.get(id);
  if (cached) return cached;
  const value = samplePayload({ seed, targetBytes });
  const json = JSON.stringify(value);
  const payload = { label: sizeLabel(targetBytes), targetBytes, value, json, bytes: Buffer.from(json) };
  cache.set(id, payload);
  return payload;
}

export function forgetPayloads(): void {
  cache.clear();
}

export function describePayload(payload: BenchPayload): PayloadShape {
  let htmlBodies = 0;
  let jsonBodies = 0;
  for (const exchange of payload.value.exchanges) {
    if (typeof exchange.response.body === 'string') htmlBodies += 1;
    else jsonBodies += 1;
  }
  return {
    label: payload.label,
    jsonBytes: payload.bytes.length,
    exchanges: payload.value.exchanges.length,
    htmlBodies,
    jsonBodies,
    logLines: payload.value.logs.length,
    gzipRatio: payload.bytes.length / gzipSync(payload.bytes, { level: 6 }).length,
  };
}

/** Sizes of the per-payload benchmarks: 100 KB, 1 MB, 10 MB and 50 MB; the quick mode stops at 1 MB. */
export function payloadSizes(quick: boolean): number[] {
  return quick ? [100e3, 1e6] : [100e3, 1e6, 10e6, 50e6];
}
