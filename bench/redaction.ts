/**
 * What secret redaction costs (issue 6), where it can run: in the consumer (the default: the
 * stored JSON redacted in pieces on its way to gzip; the task pays nothing) and in the producer
 * (a JSON.stringify replacer, so secrets never reach Redis; the task pays it).
 *
 *   scripts/with-node.sh node --expose-gc bench/redaction.ts [--quick]
 */
import { gzipSync } from 'node:zlib';
import { bufferSource } from '../src/encoding/json-scanner.ts';
import { redactStoredJson } from '../src/redaction/redact-stored-json.ts';
import { Redactor } from '../src/redaction/redactor.ts';
import { runBench } from './lib/entry.ts';
import { compare } from './lib/measure.ts';
import { benchPayload, payloadSizes } from './lib/payloads.ts';
import { fixed, ratio, table, type Headline } from './lib/report.ts';

interface Row {
  label: string;
  redactedValues: number;
  consumerShare: number;
  producerRatio: number;
  redactMs: number;
  gzipMs: number;
}

/** The consumer's redaction stage: stored JSON bytes in, redacted JSON bytes out. */
async function redactInPieces(bytes: Buffer): Promise<number> {
  let length = 0;
  for await (const chunk of redactStoredJson(bufferSource(bytes), new Redactor().pieces()))
    length += chunk.length;
  return length;
}

await runBench('redaction', async (ctx) => {
  const rows: Row[] = [];
  for (const size of payloadSizes(ctx.quick)) {
    const payload = benchPayload(size);
    const { summary } = new Redactor().redactInPlace(JSON.parse(payload.json) as unknown);
    ctx.log(`consumer and producer redaction: ${payload.label}`);
    const consumer = await compare(
      [
        { name: 'redact', run: () => redactInPieces(payload.bytes) },
        { name: 'gzip', run: () => gzipSync(payload.bytes, { level: 6 }) },
      ],
      { rounds: ctx.quick ? 3 : 9, minSampleMs: ctx.quick ? 30 : 200 },
    );
    const producer = await compare(
      [
        { name: 'stringify', run: () => JSON.stringify(payload.value) },
        { name: 'stringify+redact', run: () => JSON.stringify(payload.value, new Redactor().replacer()) },
      ],
      { rounds: ctx.quick ? 3 : 9, minSampleMs: ctx.quick ? 30 : 200 },
    );
    const ms = (name: string): number => consumer.variants[name]?.medianMs ?? Number.NaN;
    rows.push({
      label: payload.label,
      redactedValues: summary.total,
      consumerShare: consumer.timeRatio('redact', 'gzip'),
      producerRatio: producer.timeRatio('stringify+redact', 'stringify'),
      redactMs: ms('redact'),
      gzipMs: ms('gzip'),
    });
  }

  const worstProducer = Math.max(...rows.map((r) => r.producerRatio));
  const worstConsumer = Math.max(...rows.map((r) => r.consumerShare));
  const headline: Headline[] = [
    {
      benchmark: '6 redaction',
      metric: `consumer: redaction in pieces / gzipSync -6 of the same JSON, worst size (${rows.map((r) => `${r.label} ${fixed(r.consumerShare)}`).join(', ')})`,
      goal: 'paid by the consumer, not the task',
      measured: ratio(worstConsumer),
      met: undefined,
    },
    {
      benchmark: '6 redaction',
      metric: `producer: JSON.stringify with the redacting replacer / plain, worst size (${rows.map((r) => `${r.label} ${ratio(r.producerRatio)}`).join(', ')})`,
      goal: 'the task’s price for keeping secrets out of Redis',
      measured: ratio(worstProducer),
      met: undefined,
    },
  ];
  const markdown = [
    'Payloads: the recorded exchanges of the other benchmarks, whose headers, URLs and bodies carry',
    'cookies, tokens and passwords as real traffic does. Consumer: the stored JSON redacted in pieces',
    '(src/redaction/redact-stored-json.ts: scan, parse and redact values of up to 64 KiB, pass the',
    'unchanged ones through), against gzipSync -6 of the same bytes, the compression the consumer does',
    'anyway. Producer: JSON.stringify with the redacting replacer against plain JSON.stringify, the',
    'work an enqueue does on the task thread.',
    '',
    table(
      [
        'payload',
        'values redacted',
        'consumer redact ms',
        'gzipSync -6 ms',
        'redact / gzip',
        'producer stringify ratio',
      ],
      rows.map((r) => [
        r.label,
        r.redactedValues,
        fixed(r.redactMs, 1),
        fixed(r.gzipMs, 1),
        ratio(r.consumerShare),
        ratio(r.producerRatio),
      ]),
    ),
  ].join('\n');
  return {
    id: 'redaction',
    title: '6. Redaction: consumer against producer',
    markdown,
    headline,
    charts: [],
    proposals: [],
  };
});
