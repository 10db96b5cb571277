#!/usr/bin/env node
import { Command, Option } from 'commander';
import { DebugArchiverError } from '../errors.ts';
import type { PayloadRef } from '../pull.ts';
import type { ListCommandOptions } from './list-command.ts';
import type { PullCommandOptions } from './pull-command.ts';
import { reportFailure } from './report-failure.ts';

// Commands load on use: `pull` need not load the worker's HTTP stack, nor `worker` the demo.
const program = new Command()
  .name('debug-archiver')
  .description('Archive debugging payloads of task workers in S3, and pull them back.')
  .option('--verbose', 'print stack traces with errors')
  .showHelpAfterError();

const bucketOption = new Option('--bucket <name>', 'bucket (default: DEBUG_ARCHIVE_BUCKET)');

function payloadRef(key: string | undefined, task: string | undefined): PayloadRef {
  if (key !== undefined && task === undefined) return { key };
  if (key === undefined && task !== undefined) return { taskId: task };
  throw new DebugArchiverError('ERR_INVALID_CONFIG', 'give either a key or --task ID, not both');
}

program
  .command('worker')
  .description('run the consumer: archive queued payloads to S3 until SIGTERM (configured by environment)')
  .action(async () => {
    process.exitCode = await (await import('./worker-command.ts')).runWorker(process.env);
  });

program
  .command('list')
  .description('list archived payloads, newest first')
  .option('--task <id>', 'only this task (one prefix listing of the task index)')
  .option('--integration <name>', 'only this integration')
  .option('--since <when>', 'enqueued at or after: a duration (30m, 2h, 7d) or an ISO time; default 24h')
  .option('--until <when>', 'enqueued before: a duration or an ISO time; default now')
  .option('--limit <n>', 'at most this many', '100')
  .option('--keys', 'print one key per line')
  .option('--json', 'print JSON')
  .addOption(bucketOption)
  .action(async (options: ListCommandOptions) => {
    process.exitCode = await (await import('./list-command.ts')).runList(options, process.env);
  });

program
  .command('pull')
  .description('download a payload, undo base64 and gzip, verify its SHA-256 and write the JSON')
  .argument('[key]', 'object key, as enqueue returned it')
  .option('--task <id>', 'the newest payload of this task instead of a key')
  .option('--latest', 'with --task: the newest payload (the default)')
  .option('--all', 'with --task: every payload of the task, into the folder given by -o')
  .option('-o, --output <path>', 'write to this file (a folder with --all) instead of stdout')
  .option('--pretty', 'indent the JSON (loads the whole payload into memory)')
  .addOption(bucketOption)
  .action(async (key: string | undefined, options: PullCommandOptions & { task?: string }) => {
    process.exitCode = await (await import('./pull-command.ts')).runPull(key, options, process.env);
  });

program
  .command('show')
  .description('show a payload’s metadata and sizes without downloading it')
  .argument('[key]', 'object key')
  .option('--task <id>', 'the newest payload of this task instead of a key')
  .option('--json', 'print JSON')
  .addOption(bucketOption)
  .action(async (key: string | undefined, options: { task?: string; json?: boolean; bucket?: string }) => {
    process.exitCode = await (
      await import('./show-command.ts')
    ).runShow(payloadRef(key, options.task), options, process.env);
  });

program
  .command('replay')
  .description('load a payload and call the default export of a handler module with it')
  .argument('[key]', 'object key')
  .option('--task <id>', 'the newest payload of this task instead of a key')
  .requiredOption(
    '--handler <module>',
    'module whose default export is (payload, { key, metadata }) => unknown',
  )
  .addOption(bucketOption)
  .action(async (key: string | undefined, options: { task?: string; handler: string; bucket?: string }) => {
    process.exitCode = await (
      await import('./replay-command.ts')
    ).runReplay(payloadRef(key, options.task), options, process.env);
  });

program
  .command('demo')
  .description(
    'run the whole loop locally: Redis, an embedded S3 store, the consumer and a simulated task worker',
  )
  .option('--tasks <n>', 'simulated tasks', '60')
  .action(async (options: { tasks: string }) => {
    process.exitCode = await (
      await import('./demo-command.ts')
    ).runDemo({ tasks: Number(options.tasks), env: process.env });
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportFailure(error, program.opts<{ verbose?: boolean }>().verbose === true);
}
