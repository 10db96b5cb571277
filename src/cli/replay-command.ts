import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DebugArchiverError } from '../errors.ts';
import { loadDebugPayload, type PayloadRef, type ReplayHandler } from '../pull.ts';
import { withArchive } from './archive-from-env.ts';

async function loadHandler(path: string): Promise<ReplayHandler> {
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  } catch (error) {
    throw new DebugArchiverError(
      'ERR_INVALID_CONFIG',
      `cannot load handler ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (typeof module.default !== 'function') {
    throw new DebugArchiverError(
      'ERR_INVALID_CONFIG',
      `handler ${path} must export a function as its default export`,
    );
  }
  return module.default as ReplayHandler;
}

/** `debug-archiver replay`: loads a payload and hands it to the handler module's default export. */
export async function runReplay(
  ref: PayloadRef,
  options: { handler: string; bucket?: string },
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const handler = await loadHandler(options.handler);
  return withArchive(env, options.bucket, async (archive) => {
    const { key, payload, metadata } = await loadDebugPayload({
      s3: archive.s3,
      bucket: archive.bucket,
      ...('key' in ref ? ref : { taskId: ref.taskId, keyPrefix: archive.keyPrefix }),
    });
    process.stderr.write(`replaying ${key} with ${options.handler}\n`);
    await handler(payload, { key, metadata });
    return 0;
  });
}
