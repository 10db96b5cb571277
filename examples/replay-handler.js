// A replay handler for `debug-archiver replay <key> --handler ./examples/replay-handler.js`.
//
// The contract: the module's default export is called once with the archived payload (parsed
// JSON) and `{ key, metadata }` (task id, integration, enqueue time, sizes, SHA-256). It may be
// async; if it throws or rejects, replay exits with code 1. A real handler would rerun the task
// against the recorded traffic, e.g. by serving `payload.exchanges` from nock or Polly.js.

/**
 * @param {unknown} payload
 * @param {{ key: string, metadata: { taskId: string, integration?: string, enqueuedAt: string } }} context
 */
export default async function replay(payload, { key, metadata }) {
  const exchanges =
    payload !== null &&
    typeof payload === 'object' &&
    'exchanges' in payload &&
    Array.isArray(payload.exchanges)
      ? payload.exchanges
      : [];
  process.stdout.write(
    `${JSON.stringify({ key, task: metadata.taskId, integration: metadata.integration ?? null, exchanges: exchanges.length })}\n`,
  );
  await Promise.resolve();
}
