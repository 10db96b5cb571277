import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/storage/s3-client.ts';

interface SignedRequest {
  headers: Record<string, string>;
  hostname: string;
  path: string;
}

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };

/**
 * The requests a client would send for PutObjects sent at once: a middleware last in the step
 * that signs (after the retry and the signer, which the SDK puts first) keeps each request and
 * answers for S3 a little apart, so no request leaves the process. What is asserted is the
 * SDK's own work, not a server's answer.
 */
async function sentPuts(
  client: S3Client,
  puts: { bucket: string; key: string; body: string }[],
): Promise<SignedRequest[]> {
  const sent: SignedRequest[] = [];
  client.middlewareStack.add(
    () => async (args) => {
      await new Promise((resolve) => setTimeout(resolve, sent.length % 3));
      sent.push(args.request as SignedRequest);
      return { response: { statusCode: 200, headers: {} }, output: { $metadata: {} } as never };
    },
    { step: 'finalizeRequest', priority: 'low', name: 'keepSentRequest' },
  );
  try {
    await Promise.all(
      puts.map(({ bucket, key, body }) =>
        client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })),
      ),
    );
  } finally {
    client.destroy();
  }
  return sent;
}

/** The signed request of one PutObject whose body is `body` (bodyHash below). */
async function signedPut(endpoint: string, signPayload?: boolean): Promise<SignedRequest> {
  const client = createS3Client({ region: 'eu-west-1', endpoint, maxSockets: 4, credentials, signPayload });
  const [request] = await sentPuts(client, [{ bucket: 'archive', key: 'k', body: 'body' }]);
  if (request === undefined) throw new Error('no request was signed');
  return request;
}

const bodyHash = createHash('sha256').update('body').digest('hex');

describe('createS3Client', () => {
  it('leaves bodies over HTTPS unsigned, with a signed CRC-32 checksum S3 verifies', async () => {
    const { headers } = await signedPut('https://s3.example.test');
    expect(headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(headers['x-amz-checksum-crc32']).toBeDefined();
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(headers.authorization ?? '')?.[1]?.split(';');
    expect(signedHeaders).toEqual(expect.arrayContaining(['x-amz-content-sha256', 'x-amz-checksum-crc32']));
  });

  it("keeps concurrent PUTs to different buckets apart: the SDK's cached middleware would not", async () => {
    // The SDK writes each request's endpoint (the bucket's host, on AWS) into a handler context
    // that its cacheMiddleware shares between requests: with it, concurrent PUTs to six buckets
    // went to one bucket's host. So the cache is for a one-bucket client only.
    const client = createS3Client({ region: 'eu-west-1', maxSockets: 4, credentials });
    expect((client.config as { cacheMiddleware?: boolean }).cacheMiddleware).toBe(false);
    const buckets = ['bucket-a', 'bucket-b', 'bucket-c', 'bucket-d', 'bucket-e', 'bucket-f'];
    const sent = await sentPuts(
      client,
      buckets.map((bucket) => ({ bucket, key: `key-of-${bucket}`, body: bucket })),
    );
    for (const request of sent) {
      expect(request.hostname).toBe(`${request.path.replace('/key-of-', '')}.s3.eu-west-1.amazonaws.com`);
    }
    expect(sent).toHaveLength(buckets.length);
  });

  it("caches the SDK's middleware for a one-bucket client, whose concurrent PUTs keep their own keys", async () => {
    const client = createS3Client({ region: 'eu-west-1', maxSockets: 4, credentials, oneBucket: true });
    expect((client.config as { cacheMiddleware?: boolean }).cacheMiddleware).toBe(true);
    const keys = ['a/one', 'b/two', 'c/three', 'd/four'];
    const sent = await sentPuts(
      client,
      keys.map((key) => ({ bucket: 'archive', key, body: key })),
    );
    expect(sent.map((request) => `${request.hostname}${request.path}`).sort()).toEqual(
      keys.map((key) => `archive.s3.eu-west-1.amazonaws.com/${key}`),
    );
  });

  it('signs bodies over HTTPS when told to, and over plain HTTP always', async () => {
    expect((await signedPut('https://s3.example.test', true)).headers['x-amz-content-sha256']).toBe(bodyHash);
    expect((await signedPut('http://127.0.0.1:9000')).headers['x-amz-content-sha256']).toBe(bodyHash);
  });
});
