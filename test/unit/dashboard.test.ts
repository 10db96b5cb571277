import { readFile } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  consumerMetrics,
  METRIC_PREFIX,
  producerMetrics,
  registerNodeMetrics,
} from '../../src/metrics/definitions.ts';
import { DROP_REASONS } from '../../src/producer/producer.ts';

interface Target {
  refId: string;
  expr: string;
  datasource?: unknown;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: unknown;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}

interface Dashboard {
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
}

const dashboard = JSON.parse(
  await readFile(new URL('../../grafana/dashboards/debug-archiver.json', import.meta.url), 'utf8'),
) as Dashboard;

/** Every panel, those inside collapsed rows included. */
const allPanels = (panels: Panel[]): Panel[] =>
  panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
const queries = allPanels(dashboard.panels).flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
);

/** PromQL words that are neither metric names nor followed by a parenthesis. */
const KEYWORDS = new Set(['bool', 'and', 'or', 'unless', 'offset', 'atan2', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects, in order of first appearance: every identifier
 * that is not a function or aggregation (followed by `(`), a keyword, a label name (inside `{}`,
 * `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`, `group_left/right (...)`), part of a
 * string, duration or number, or a Grafana variable; plus names given as `__name__="..."`.
 */
function metricNamesIn(expr: string): string[] {
  const names = [...expr.matchAll(/__name__\s*=\s*"([^"]*)"/g)].map((match) => match[1] ?? '');
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  for (const match of bare.matchAll(/(?<![\w.:$])[a-zA-Z_:][\w:]*/g)) {
    const after = bare.slice(match.index + match[0].length);
    if (/^\s*\(/.test(after) || KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return [...new Set(names)];
}

interface Series {
  /** The metric the series belongs to (`h` for `h_bucket`). */
  metric: string;
  type: 'counter' | 'gauge' | 'histogram' | 'other';
}

/**
 * Every series name the code exports: the consumer's and the producer's metrics as defined in
 * src/metrics/definitions.ts plus Node's default metrics, read from a real registry. A histogram
 * `h` is queried as `h_bucket`, `h_sum` and `h_count`.
 */
async function exportedSeries(): Promise<Map<string, Series>> {
  const registry = new Registry();
  registerNodeMetrics(registry);
  consumerMetrics(registry, {
    queueDepth: async () => {},
    sockets: () => {},
    redactionMemory: async () => {},
  });
  producerMetrics(registry, DROP_REASONS);
  const series = new Map<string, Series>();
  for (const { name: metric } of await registry.getMetricsAsJSON()) {
    const made = registry.getSingleMetric(metric);
    const type =
      made instanceof Histogram
        ? 'histogram'
        : made instanceof Counter
          ? 'counter'
          : made instanceof Gauge
            ? 'gauge'
            : 'other';
    const names = type === 'histogram' ? [`${metric}_bucket`, `${metric}_sum`, `${metric}_count`] : [metric];
    for (const name of names) series.set(name, { metric, type });
  }
  registry.clear();
  return series;
}

const series = await exportedSeries();

describe('the metric-name extractor', () => {
  it('finds metric names and skips functions, keywords, labels, ranges, numbers and variables', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le, stage) (rate(a_bucket{stage="json", x=~"y|z"}[$__rate_interval])))' +
          ' / on (instance) group_left (kind) sum without (le) (b_total offset 5m) * 1e6 > bool 2' +
          ' or max(c:recorded) unless count(increase(d_seconds_count[${__range}])) and vector(1)',
      ),
    ).toEqual(['a_bucket', 'b_total', 'c:recorded', 'd_seconds_count']);
    expect(metricNamesIn('{__name__="e_bytes", job="x"}')).toEqual(['e_bytes']);
  });
});

describe('grafana/dashboards/debug-archiver.json', () => {
  it('is a schema 39 dashboard with a templated Prometheus data source', () => {
    expect(dashboard.schemaVersion).toBe(39);
    expect(dashboard.uid).toBe('debug-archiver');
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
  });

  it('queries Prometheus through ${datasource} in every panel and every target', () => {
    expect(queries.length).toBeGreaterThan(20);
    for (const panel of dashboard.panels.filter((candidate) => candidate.type !== 'row')) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      }
    }
  });

  it('gives panels unique ids and lays them out without overlap inside the 24-column grid', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Map<string, string>();
    for (const panel of dashboard.panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x >= 0 && w > 0 && x + w <= 24 && y >= 0 && h > 0, panel.title).toBe(true);
      for (let row = y; row < y + h; row += 1) {
        for (let column = x; column < x + w; column += 1) {
          const other = cells.get(`${column},${row}`);
          expect(other, `${panel.title} overlaps ${String(other)}`).toBeUndefined();
          cells.set(`${column},${row}`, panel.title);
        }
      }
    }
  });

  it('names in every query only series the code exports', () => {
    const unknown = queries.flatMap(({ panel, expr }) =>
      metricNamesIn(expr)
        .filter((name) => !series.has(name))
        .map((name) => `${panel}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it('shows every debug_archiver_ metric the code defines, and Node heap, GC and event-loop lag', () => {
    const shown = new Set(
      queries.flatMap(({ expr }) => metricNamesIn(expr).map((name) => series.get(name)?.metric)),
    );
    const defined = [...new Set([...series.values()].map((entry) => entry.metric))].filter((name) =>
      name.startsWith(METRIC_PREFIX),
    );
    expect(defined.length).toBeGreaterThanOrEqual(17);
    expect(defined.filter((name) => !shown.has(name))).toEqual([]);
    for (const name of [
      'nodejs_heap_size_used_bytes',
      'nodejs_heap_size_total_bytes',
      'nodejs_gc_duration_seconds',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect(shown.has(name), name).toBe(true);
    }
  });

  it('takes rate() and increase() of counters and histogram series only, never of gauges', () => {
    const rated = queries.flatMap(({ panel, expr }) =>
      [...expr.matchAll(/\b(?:rate|increase)\(\s*([a-zA-Z_:][\w:]*)/g)].map((match) => ({
        panel,
        name: match[1] ?? '',
      })),
    );
    expect(rated.length).toBeGreaterThan(10);
    const gauges = rated.filter(
      ({ name }) => !['counter', 'histogram'].includes(series.get(name)?.type ?? ''),
    );
    expect(gauges).toEqual([]);
  });

  it('reads the gauges of queue depth, which every consumer reports alike, with max and never sum', () => {
    const depth = queries.filter(({ expr }) =>
      /debug_archiver_queue(?:_jobs|d_payloads|d_bytes)\b/.test(expr),
    );
    expect(depth.length).toBeGreaterThanOrEqual(3);
    for (const { panel, expr } of depth) expect(expr, panel).toMatch(/^max\b/);
  });
});
