/**
 * Benchmark 5, sockets: 200 uploads at once to an S3 endpoint 100 ms away (s3rver behind a
 * latency proxy), with the consumer's client (NodeHttpHandler over keep-alive agents of 512
 * sockets), the same with the SDK's 50 sockets, and undici through @smithy/undici-http-handler
 * (its default of unlimited connections, and 512). Cold (a new client, every socket to open)
 * and warm (the same client again) bursts.
 *
 *   scripts/with-node.sh node --expose-gc bench/sockets.ts [--quick]
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { UndiciHttpHandler } from '@smithy/undici-http-handler';
import { createS3Client } from '../src/storage/s3-client.ts';
import { encodePayload } from '../src/encoding/encode-payload.ts';
import { runBench } from './lib/entry.ts';
import { median, percentile } from './lib/measure.ts';
import { benchPayload } from './lib/payloads.ts';
import { fixed, ratio, table, type Headline } from './lib/report.ts';
import { startS3, type BenchS3 } from './lib/services.ts';

interface ClientVariant {
  name: string;
  make: (s3: BenchS3) => S3Client;
}

const region = 'us-east-1';

const variants: ClientVariant[] = [
  {
    name: 'NodeHttpHandler, 512 sockets (ours)',
    make: (s3) =>
      createS3Client({ region, endpoint: s3.endpoint, maxSockets: 512, credentials: s3.credentials }),
  },
  {
    name: 'NodeHttpHandler, 50 sockets',
    make: (s3) =>
      createS3Client({ region, endpoint: s3.endpoint, maxSockets: 50, credentials: s3.credentials }),
  },
  {
    name: 'undici, unlimited connections',
    make: (s3) =>
      new S3Client({
        region,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: s3.credentials,
        // Options rather than no dispatcher: an Agent of the client's own (undici's defaults),
        // which client.destroy() closes, not the global one every round would share.
        requestHandler: new UndiciHttpHandler({ dispatcher: {} }),
      }),
  },
  {
    name: 'undici, 512 connections',
    make: (s3) =>
      new S3Client({
        region,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: s3.credentials,
        requestHandler: new UndiciHttpHandler({ dispatcher: { connections: 512 } }),
      }),
  },
];

interface Burst {
  wallMs: number;
  p50: number;
  p99: number;
}

async function burst(
  client: S3Client,
  s3: BenchS3,
  body: Buffer,
  count: number,
  tag: string,
): Promise<Burst> {
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const t0 = performance.now();
      await client.send(
        new PutObjectCommand({
          Bucket: s3.bucket,
          Key: `sockets/${tag}/${i}`,
          Body: body,
          ContentLength: body.length,
          ContentType: 'text/plain',
        }),
      );
      latencies.push(performance.now() - t0);
    }),
  );
  return { wallMs: performance.now() - started, p50: median(latencies), p99: percentile(latencies, 99) };
}

/** Client CPU of one PutObject, one at a time to s3rver directly: with and without the SDK's default CRC32 checksum. */
async function checksumCost(
  s3: BenchS3,
  body: Buffer,
  count: number,
): Promise<{ name: string; cpuMs: number; wallMs: number }[]> {
  const out: { name: string; cpuMs: number; wallMs: number }[] = [];
  const clients: [string, S3Client][] = [
    [
      'default (CRC32 on every PutObject)',
      new S3Client({
        region,
        endpoint: s3.directEndpoint,
        forcePathStyle: true,
        credentials: s3.credentials,
      }),
    ],
    [
      "requestChecksumCalculation: 'WHEN_REQUIRED'",
      new S3Client({
        region,
        endpoint: s3.directEndpoint,
        forcePathStyle: true,
        credentials: s3.credentials,
        requestChecksumCalculation: 'WHEN_REQUIRED',
      }),
    ],
  ];
  const samples = new Map<string, { cpu: number[]; wall: number[] }>(
    clients.map(([name]) => [name, { cpu: [], wall: [] }]),
  );
  for (let i = 0; i < count; i += 1) {
    for (const [name, client] of clients) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await client.send(
        new PutObjectCommand({
          Bucket: s3.bucket,
          Key: `checksum/${i}`,
          Body: body,
          ContentLength: body.length,
        }),
      );
      const cpu = process.cpuUsage(cpu0);
      samples.get(name)?.wall.push(performance.now() - t0);
      samples.get(name)?.cpu.push((cpu.user + cpu.system) / 1000);
    }
  }
  for (const [name, client] of clients) {
    const s = samples.get(name);
    // The first request of each client opens its socket: left out.
    out.push({ name, cpuMs: median(s?.cpu.slice(1) ?? []), wallMs: median(s?.wall.slice(1) ?? []) });
    client.destroy();
  }
  return out;
}

interface Row {
  name: string;
  cold: Burst[];
  warm: Burst[];
}

await runBench('sockets', async (ctx) => {
  const latencyMs = 100;
  const count = ctx.quick ? 60 : 200;
  // Warm bursts moved 0.8x-1.25x between single runs of 3 rounds: more rounds for the median.
  const rounds = ctx.quick ? 1 : 9;
  const s3 = await startS3({ latencyMs });
  // One archived 1 MB payload as the body: base64 of its gzip, as the consumer uploads it.
  const body = await encodePayload(
    benchPayload(1e6).value,
    async (source) => {
      const parts: Buffer[] = [];
      for await (const chunk of source) parts.push(chunk);
      return Buffer.concat(parts);
    },
    { gzipLevel: 6 },
  );
  const rows: Row[] = variants.map((v) => ({ name: v.name, cold: [], warm: [] }));
  for (let round = 0; round < rounds; round += 1) {
    for (let i = 0; i < variants.length; i += 1) {
      const index = (round + i) % variants.length;
      const variant = variants[index];
      const row = rows[index];
      if (!variant || !row) continue;
      ctx.log(`round ${round + 1}: ${count} uploads at once, ${variant.name}`);
      const client = variant.make(s3);
      try {
        row.cold.push(await burst(client, s3, body, count, `${round}-${index}-cold`));
        row.warm.push(await burst(client, s3, body, count, `${round}-${index}-warm`));
      } finally {
        client.destroy();
      }
    }
  }
  ctx.log('client CPU per PutObject, with and without checksum');
  const checksums = await checksumCost(s3, body, ctx.quick ? 6 : 40);
  const summarize = (bursts: Burst[]) => ({
    wallMs: median(bursts.map((b) => b.wallMs)),
    p50: median(bursts.map((b) => b.p50)),
    p99: median(bursts.map((b) => b.p99)),
  });
  const summaries = rows.map((row) => ({
    name: row.name,
    cold: summarize(row.cold),
    warm: summarize(row.warm),
  }));
  const [ours, fifty, undici, undici512] = summaries;
  const headline: Headline[] = [];
  if (ours && fifty && undici && undici512) {
    headline.push({
      benchmark: '5 sockets',
      metric: `${count} uploads at once, ${latencyMs} ms away: 50 sockets / 512 (ours), wall of a warm burst (cold: ${ratio(fifty.cold.wallMs / ours.cold.wallMs)})`,
      goal: '512 faster',
      measured: ratio(fifty.warm.wallMs / ours.warm.wallMs),
      met: fifty.warm.wallMs > ours.warm.wallMs,
    });
    const bestUndici = undici.warm.wallMs < undici512.warm.wallMs ? undici : undici512;
    headline.push({
      benchmark: '5 sockets',
      metric: `NodeHttpHandler 512 (ours) / best undici (${bestUndici.name}), wall of a warm burst (cold: ${ratio(ours.cold.wallMs / bestUndici.cold.wallMs)})`,
      goal: 'the faster is the default',
      measured: ratio(ours.warm.wallMs / bestUndici.warm.wallMs),
      met: undefined,
    });
  }
  const markdown = [
    `${count} PutObject requests at once of a ${body.length}-byte body (base64 of a gzipped 1 MB payload) to s3rver behind a proxy that delays each new connection and each response by ${latencyMs} ms. Each round makes a new client (cold burst: every socket opened), then sends the same burst again (warm: keep-alive sockets reused); medians over ${rounds} interleaved round(s).`,
    '',
    table(
      [
        'client',
        'cold wall ms',
        'cold p50 ms',
        'cold p99 ms',
        'warm wall ms',
        'warm p50 ms',
        'warm p99 ms',
        'warm uploads/s',
      ],
      summaries.map((s) => [
        s.name,
        fixed(s.cold.wallMs, 0),
        fixed(s.cold.p50, 0),
        fixed(s.cold.p99, 0),
        fixed(s.warm.wallMs, 0),
        fixed(s.warm.p50, 0),
        fixed(s.warm.p99, 0),
        fixed(count / (s.warm.wallMs / 1000), 0),
      ]),
    ),
    '',
    `With 50 sockets, ${count} uploads go in ${Math.ceil(count / 50)} waves, each paying the round trip; with 512 (or undici's unlimited connections) they go in one. s3rver itself (one process, writing every object to disk, on the same two cores) is the limit beyond that.`,
    '',
    `Client CPU of one PutObject of the same body (this process: signing, checksum, HTTP), one at a time straight to s3rver, medians of ${ctx.quick ? 5 : 39}:`,
    '',
    table(
      ['client config', 'client CPU ms', 'wall ms'],
      checksums.map((c) => [c.name, fixed(c.cpuMs, 2), fixed(c.wallMs, 2)]),
    ),
  ].join('\n');
  const proposals: string[] = [];
  const [withCrc, withoutCrc] = checksums;
  if (withCrc && withoutCrc) {
    const saving = withCrc.cpuMs / withoutCrc.cpuMs;
    proposals.push(
      saving >= 1.15
        ? `S3 client checksums (src/storage/s3-client.ts): the SDK computes a CRC32 of every PutObject body by default: ${fixed(withCrc.cpuMs, 2)} ms of client CPU per ${body.length}-byte body vs ${fixed(withoutCrc.cpuMs, 2)} ms with \`requestChecksumCalculation: 'WHEN_REQUIRED'\` (${ratio(saving)}). The consumer records the JSON's SHA-256 and pull verifies it, so WHEN_REQUIRED for the consumer's client is worth considering.`
        : `S3 client checksums: leave the SDK's default CRC32: ${fixed(withCrc.cpuMs, 2)} vs ${fixed(withoutCrc.cpuMs, 2)} ms of client CPU per ${body.length}-byte PutObject without it (${ratio(saving)}), not worth the lost check.`,
    );
  }
  if (ours && undici && undici512) {
    const best = undici.warm.wallMs < undici512.warm.wallMs ? undici : undici512;
    const factor = ours.warm.wallMs / best.warm.wallMs;
    proposals.push(
      factor >= 1.2
        ? `S3 request handler (src/storage/s3-client.ts): ${best.name} finished a warm burst in ${fixed(best.warm.wallMs, 0)} ms vs ${fixed(ours.warm.wallMs, 0)} ms for NodeHttpHandler with 512 sockets (${ratio(factor)}; cold ${fixed(best.cold.wallMs, 0)} vs ${fixed(ours.cold.wallMs, 0)} ms): worth switching to \`new UndiciHttpHandler({ dispatcher: { connections: maxSockets } })\` (move @smithy/undici-http-handler to dependencies), keeping the socket gauge by reading the undici Agent's stats.`
        : `S3 request handler (src/storage/s3-client.ts): keep NodeHttpHandler with 512 sockets: ${best.name} was not clearly faster (switching would need >= 1.2x on a machine this noisy) (warm ${fixed(best.warm.wallMs, 0)} ms vs ${fixed(ours.warm.wallMs, 0)} ms, ${ratio(factor)}; cold ${fixed(best.cold.wallMs, 0)} vs ${fixed(ours.cold.wallMs, 0)} ms), and the node:http agent is what the s3_sockets gauge reads.`,
    );
  }
  return { id: 'sockets', title: '5. Sockets', markdown, headline, charts: [], proposals };
});
