#!/usr/bin/env node
import { Command } from 'commander';
import { reportFailure } from './report-failure.ts';
import { runDemo } from './demo-command.ts';
import { runPull } from './pull-command.ts';
import { runWorker } from './worker-command.ts';

const program = new Command()
  .name('debug-archiver')
  .description('Archive debugging payloads of task workers in S3, and pull them back.')
  .option('--verbose', 'print stack traces with errors')
  .showHelpAfterError();

program
  .command('worker')
  .description('run the consumer: archive queued payloads to S3 until SIGTERM (configured by environment)')
  .action(async () => {
    process.exitCode = await runWorker(process.env);
  });

program
  .command('pull')
  .description('download an archived payload, undo base64 and gzip, verify its SHA-256 and write the JSON')
  .argument('<key>', 'object key, as enqueue returned it')
  .option('-o, --output <file>', 'write to this file instead of stdout')
  .option('--bucket <name>', 'bucket (default: DEBUG_ARCHIVE_BUCKET)')
  .action(async (key: string, options: { output?: string; bucket?: string }) => {
    process.exitCode = await runPull(key, options, process.env);
  });

program
  .command('demo')
  .description(
    'run the whole loop locally: Redis, an embedded S3 store, the consumer and a simulated task worker',
  )
  .option('--tasks <n>', 'simulated tasks', '60')
  .action(async (options: { tasks: string }) => {
    process.exitCode = await runDemo({ tasks: Number(options.tasks), env: process.env });
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = reportFailure(error, program.opts<{ verbose?: boolean }>().verbose === true);
}
