/**
 * The consumer process: `node worker/main.ts` (or `debug-archiver worker`), configured by the
 * environment. See the README for the variables.
 */
import { reportFailure } from '../src/cli/report-failure.ts';
import { runWorker } from '../src/cli/worker-command.ts';

try {
  process.exitCode = await runWorker(process.env);
} catch (error) {
  process.exitCode = reportFailure(error, process.env.LOG_LEVEL === 'debug');
}
