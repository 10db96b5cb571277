import { DebugArchiverError } from '../errors.ts';

export interface LocalS3 {
  readonly endpoint: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  stop(): Promise<void>;
}

/**
 * Starts an S3-compatible server (s3rver) in this process over real HTTP on a free loopback
 * port, keeping objects in `directory`, with `buckets` created. s3rver is a development
 * dependency: it is there after `npm ci` in a clone, not in a production install.
 */
export async function startLocalS3(options: {
  directory: string;
  buckets: string[];
  port?: number;
}): Promise<LocalS3> {
  let S3rver: typeof import('s3rver');
  try {
    S3rver = (await import('s3rver')).default;
  } catch (error) {
    throw new DebugArchiverError(
      'ERR_LOCAL_SERVER',
      'the embedded S3 server (s3rver) is a development dependency: run `npm ci` in a clone of debug-archiver, or set S3_ENDPOINT',
      { cause: error },
    );
  }
  const server = new S3rver({
    port: options.port ?? 0,
    address: '127.0.0.1',
    silent: true,
    directory: options.directory,
    configureBuckets: options.buckets.map((name) => ({ name, configs: [] })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    stop: () => server.close(),
  };
}
