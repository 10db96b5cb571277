import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { EXTERNAL_MEMORY_FLAG, tuneWorkerGc } from '../../src/consumer/gc-tuning.ts';

describe('tuneWorkerGc', () => {
  it('leaves the flag to a process started with it either way, in its arguments or NODE_OPTIONS', () => {
    expect(tuneWorkerGc([`--no-${EXTERNAL_MEMORY_FLAG}`], '', '13.6.233')).toBe(false);
    expect(tuneWorkerGc([`--${EXTERNAL_MEMORY_FLAG.replaceAll('-', '_')}`], '', '13.6.233')).toBe(false);
    expect(tuneWorkerGc([], `--max-old-space-size=512 --no-${EXTERNAL_MEMORY_FLAG}`, '13.6.233')).toBe(false);
  });

  it('does nothing on a V8 older than the flag (Node 22)', () => {
    expect(tuneWorkerGc([], '', '12.4.254.21-node.33')).toBe(false);
    expect(tuneWorkerGc([], '', '13.5.1')).toBe(false);
  });

  it('sets the flag, which this V8 knows: no complaint on stderr', () => {
    const script = [
      `import { tuneWorkerGc } from ${JSON.stringify(new URL('../../src/consumer/gc-tuning.ts', import.meta.url).href)};`,
      'console.log(tuneWorkerGc([], ""));',
    ].join('\n');
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('true');
  });
});
