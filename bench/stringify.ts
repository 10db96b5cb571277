/**
 * Benchmark 2, the stringify stage: our jsonChunks (one JSON.stringify up to 1 MiB, JSONStream
 * over every array beyond, chunks of 512 KiB of UTF-8), and its streamed path forced at every
 * size, against native JSON.stringify and bfj's asynchronous stringify, on the same payload;
 * also the JSON chunk size the encode pipeline feeds zlib.
 *
 *   scripts/with-node.sh node --expose-gc bench/stringify.ts [--quick]
 */
import bfj from 'bfj';
import { gzipSync } from 'node:zlib';
import { encodePayload, JSON_CHUNK_BYTES } from '../src/encoding/encode-payload.ts';
import { ONE_STRING_CHARS } from '../src/encoding/json-chunks.ts';
import { runBench } from './lib/entry.ts';
import { compare, mbPerSecond } from './lib/measure.ts';
import { benchPayload, payloadSizes } from './lib/payloads.ts';
import { countingSink, drainChunks } from './lib/pipeline.ts';
import { fixed, ratio, table, type Headline } from './lib/report.ts';
import { barChart } from './lib/svg.ts';

interface Row {
  label: string;
  bytes: number;
  nativeMs: number;
  nativeBytesMs: number;
  oursMs: number;
  streamedMs: number;
  bfjMs: number;
  oursVsNative: number;
  oursVsNativeBytes: number;
  streamedVsNative: number;
  bfjVsStreamed: number;
  bfjVsOurs: number;
  bfjVsNative: number;
}

await runBench('stringify', async (ctx) => {
  const rows: Row[] = [];
  for (const size of payloadSizes(ctx.quick)) {
    const payload = benchPayload(size);
    // Told the JSON's length, as encodePayload is when its caller knows it.
    const ours = (): number => drainChunks(payload.value, ONE_STRING_CHARS, payload.json.length);
    if (ours() !== payload.bytes.length || drainChunks(payload.value, 0) !== payload.bytes.length)
      throw new Error('jsonChunks lost bytes');
    ctx.log(`native vs jsonChunks: ${payload.label}`);
    const fast = await compare(
      [
        { name: 'native', run: () => JSON.stringify(payload.value) },
        { name: 'nativeBytes', run: () => Buffer.from(JSON.stringify(payload.value)) },
        { name: 'ours', run: ours },
        { name: 'streamed', run: () => drainChunks(payload.value, 0) },
      ],
      { rounds: ctx.quick ? 3 : 9, minSampleMs: ctx.quick ? 30 : 200 },
    );
    ctx.log(`bfj vs jsonChunks: ${payload.label}`);
    // bfj is one to two orders slower: fewer rounds, each against ours and native in the same round.
    const slow = await compare(
      [
        { name: 'bfj', run: () => bfj.stringify(payload.value) },
        { name: 'ours', run: ours },
        { name: 'streamed', run: () => drainChunks(payload.value, 0) },
        { name: 'native', run: () => JSON.stringify(payload.value) },
      ],
      { rounds: ctx.quick ? 1 : size >= 10e6 ? 2 : 4, minSampleMs: ctx.quick ? 0 : 100, warmups: 1 },
    );
    const ms = (name: string): number => fast.variants[name]?.medianMs ?? Number.NaN;
    rows.push({
      label: payload.label,
      bytes: payload.bytes.length,
      nativeMs: ms('native'),
      nativeBytesMs: ms('nativeBytes'),
      oursMs: ms('ours'),
      streamedMs: ms('streamed'),
      bfjMs: slow.variants.bfj?.medianMs ?? Number.NaN,
      oursVsNative: fast.timeRatio('ours', 'native'),
      oursVsNativeBytes: fast.timeRatio('ours', 'nativeBytes'),
      streamedVsNative: fast.timeRatio('streamed', 'native'),
      bfjVsOurs: slow.timeRatio('bfj', 'ours'),
      bfjVsStreamed: slow.timeRatio('bfj', 'streamed'),
      bfjVsNative: slow.timeRatio('bfj', 'native'),
    });
  }

  // The chunk size the pipeline feeds zlib (JSON_CHUNK_BYTES), end to end through the encoder.
  const sweepPayload = benchPayload(ctx.quick ? 1e6 : 10e6);
  const chunkSizes = [32, 64, 128, 256, 512].map((k) => k * 1024);
  const sweep: { level: number; kib: number; mbps: number; vsDefault: number; vsGzip: number }[] = [];
  for (const level of [1, 6]) {
    ctx.log(`JSON chunk size sweep, level ${level}`);
    const result = await compare(
      [
        { name: 'gzipSync', run: () => gzipSync(sweepPayload.bytes, { level }) },
        ...chunkSizes.map((bytes) => ({
          name: String(bytes),
          run: () =>
            encodePayload(sweepPayload.value, countingSink, { gzipLevel: level, jsonChunkBytes: bytes }),
        })),
      ],
      { rounds: ctx.quick ? 2 : 7, minSampleMs: ctx.quick ? 30 : 250 },
    );
    for (const bytes of chunkSizes) {
      sweep.push({
        level,
        kib: bytes / 1024,
        mbps: mbPerSecond(sweepPayload.bytes.length, result.variants[String(bytes)]?.medianMs ?? Number.NaN),
        vsDefault: result.timeRatio(String(JSON_CHUNK_BYTES), String(bytes)),
        vsGzip: result.timeRatio('gzipSync', String(bytes)),
      });
    }
  }

  const worstOurs = Math.max(...rows.map((r) => r.oursVsNative));
  const bfjGaps = rows.map((r) => r.bfjVsStreamed);
  const headline: Headline[] = [
    {
      benchmark: '2 stringify',
      metric: `jsonChunks time / native JSON.stringify (worst size; ${rows.map((r) => `${r.label} ${fixed(r.oursVsNative)}`).join(', ')})`,
      goal: '<= 1.5x',
      measured: ratio(worstOurs),
      met: worstOurs <= 1.5,
    },
    {
      benchmark: '2 stringify',
      metric: `bfj time / jsonChunks streamed through JSONStream (${rows.map((r) => `${r.label} ${ratio(r.bfjVsStreamed)}`).join(', ')})`,
      goal: 'reproduce the ~5x gap',
      measured: `${ratio(Math.min(...bfjGaps))} to ${ratio(Math.max(...bfjGaps))}`,
      met: Math.min(...bfjGaps) >= 4,
    },
  ];
  const markdown = [
    `The value encoder's stringify stage (\`encodePayload\`, and the consumer's for the payloads of up to 120 KiB it parses whole to redact; it redacts larger ones by suspects, stringifying only the values around a suspect again, and does not stringify one with nothing to redact). Same payload objects as benchmark 1. "native" is \`JSON.stringify(value)\` (a string); "native + bytes" adds \`Buffer.from(json)\`, the UTF-8 bytes a gzip stage needs; "ours" drains \`jsonChunks(value, ${JSON_CHUNK_BYTES / 1024} KiB)\` told the JSON's length (as \`encodePayload\` is when its caller knows it): one \`JSON.stringify\` for a value of at most ${ONE_STRING_CHARS / 1024 / 1024} MiB of JSON, JSONStream per array beyond (UTF-8 chunks); "streamed" forces the JSONStream path at every size; bfj is \`bfj.stringify(value)\` with its defaults. Ratios are medians of per-round ratios, interleaved.`,
    '',
    table(
      [
        'payload',
        'native ms',
        'native + bytes ms',
        'ours ms',
        'streamed ms',
        'bfj ms',
        'ours / native',
        'ours / native + bytes',
        'streamed / native',
        'bfj / ours',
        'bfj / streamed',
        'bfj / native',
      ],
      rows.map((r) => [
        r.label,
        fixed(r.nativeMs, 2),
        fixed(r.nativeBytesMs, 2),
        fixed(r.oursMs, 2),
        fixed(r.streamedMs, 2),
        fixed(r.bfjMs, 1),
        ratio(r.oursVsNative),
        ratio(r.oursVsNativeBytes),
        ratio(r.streamedVsNative),
        ratio(r.bfjVsOurs),
        ratio(r.bfjVsStreamed),
        ratio(r.bfjVsNative),
      ]),
    ),
    '',
    '![stringify](charts/stringify.svg)',
    '',
    `### JSON chunk size fed to zlib (whole encode pipeline, ${sweepPayload.label})`,
    '',
    `MB/s of JSON through encodePayload with \`jsonChunkBytes\`; the default is ${JSON_CHUNK_BYTES / 1024} KiB.`,
    '',
    table(
      ['level', 'chunk KiB', 'pipeline MB/s', `speed vs ${JSON_CHUNK_BYTES / 1024} KiB`, 'vs gzipSync'],
      sweep.map((s) => [s.level, s.kib, fixed(s.mbps, 1), ratio(s.vsDefault), fixed(s.vsGzip)]),
    ),
  ].join('\n');
  const charts = [
    {
      file: 'stringify.svg',
      title: 'stringify stage',
      svg: barChart({
        title: 'Stringify MB/s: native, ours (jsonChunks), bfj',
        yLabel: 'MB/s of JSON',
        categories: rows.map((r) => r.label),
        series: [
          { name: 'JSON.stringify', values: rows.map((r) => mbPerSecond(r.bytes, r.nativeMs)) },
          { name: 'native + Buffer.from', values: rows.map((r) => mbPerSecond(r.bytes, r.nativeBytesMs)) },
          { name: 'jsonChunks (ours)', values: rows.map((r) => mbPerSecond(r.bytes, r.oursMs)) },
          { name: 'JSONStream path forced', values: rows.map((r) => mbPerSecond(r.bytes, r.streamedMs)) },
          { name: 'bfj', values: rows.map((r) => mbPerSecond(r.bytes, r.bfjMs)) },
        ],
      }),
    },
  ];
  const tuning = `One string for small values (src/encoding/json-chunks.ts): a value whose JSON is estimated at most ${ONE_STRING_CHARS / 1024 / 1024} MiB is one \`JSON.stringify\` and one \`Buffer.from\`; only larger ones are streamed through JSONStream (before, every size was). This run, the stage against its streamed path: ${rows.map((r) => `${r.label} ${ratio(r.streamedMs / r.oursMs)}`).join(', ')} (medians; from 10 MB up both are the streamed path).`;
  return { id: 'stringify', title: '2. Stringify stage', markdown, headline, charts, proposals: [], tuning };
});
