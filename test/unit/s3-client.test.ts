import { createHash } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../src/storage/s3-client.ts';

interface SignedRequest {
  headers: Record<string, string>;
}

/**
 * The headers of the PutObject requests a client signs: a middleware right after the SDK's
 * signer keeps each request and answers for S3, so no request leaves the process. What is
 * asserted is the SDK's own signing, not a server's answer.
 */
async function signedPut(endpoint: string, signPayload?: boolean): Promise<SignedRequest> {
  const client = createS3Client({
    region: 'eu-west-1',
    endpoint,
    maxSockets: 4,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    signPayload,
  });
  const signed: SignedRequest[] = [];
  // Last in the step that signs (after the retry and the signer, which the SDK puts first).
  client.middlewareStack.add(
    () => (args) => {
      signed.push(args.request as SignedRequest);
      return Promise.resolve({
        response: { statusCode: 200, headers: {} },
        output: { $metadata: {} } as never,
      });
    },
    { step: 'finalizeRequest', priority: 'low', name: 'keepSignedRequest' },
  );
  try {
    await client.send(new PutObjectCommand({ Bucket: 'archive', Key: 'k', Body: Buffer.from('body') }));
  } finally {
    client.destroy();
  }
  const [request] = signed;
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

  it('signs bodies over HTTPS when told to, and over plain HTTP always', async () => {
    expect((await signedPut('https://s3.example.test', true)).headers['x-amz-content-sha256']).toBe(bodyHash);
    expect((await signedPut('http://127.0.0.1:9000')).headers['x-amz-content-sha256']).toBe(bodyHash);
  });
});
