/**
 * Small self-contained SVG charts for bench/RESULTS.md: a line chart with up to two y axes and
 * a grouped bar chart. No dependencies; the output is plain text, stable for a given input.
 */

const WIDTH = 720;
const HEIGHT = 360;
const MARGIN = { top: 44, right: 78, bottom: 78, left: 78 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const escape = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

const fmt = (value: number): string => {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1).replace(/\.0$/, '');
  return value.toFixed(2).replace(/0$/, '').replace(/\.0$/, '');
};

/** About five round ticks from 0 (or min) to a little above max. */
function ticks(min: number, max: number): number[] {
  const span = max - min || Math.abs(max) || 1;
  const raw = span / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => span / s <= 6) ?? raw;
  const start = Math.floor(min / step) * step;
  const out: number[] = [];
  for (let v = start; v <= max + step * 0.999; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function frame(title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

export interface LineSeries {
  name: string;
  points: [number, number][];
  axis?: 'left' | 'right';
  dashed?: boolean;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  leftLabel: string;
  rightLabel?: string;
  series: LineSeries[];
  /** Start the y axes at zero (default true). */
  fromZero?: boolean;
}

export function lineChart(spec: LineChartSpec): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xs = spec.series.flatMap((s) => s.points.map(([x]) => x));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const axisRange = (axis: 'left' | 'right'): [number, number] | undefined => {
    const ys = spec.series
      .filter((s) => (s.axis ?? 'left') === axis)
      .flatMap((s) => s.points.map(([, y]) => y));
    if (ys.length === 0) return undefined;
    const lo = spec.fromZero === false ? Math.min(...ys) : Math.min(0, ...ys);
    const t = ticks(lo, Math.max(...ys));
    return [t[0] ?? lo, t[t.length - 1] ?? Math.max(...ys)];
  };
  const left = axisRange('left') ?? [0, 1];
  const right = axisRange('right');
  const sx = (x: number): number => MARGIN.left + ((x - xMin) / (xMax - xMin || 1)) * plotW;
  const sy = (y: number, [lo, hi]: [number, number]): number =>
    MARGIN.top + plotH - ((y - lo) / (hi - lo || 1)) * plotH;
  const body: string[] = [];
  for (const t of ticks(left[0], left[1])) {
    const y = sy(t, left);
    body.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    body.push(`<text x="${MARGIN.left - 6}" y="${y + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  if (right) {
    for (const t of ticks(right[0], right[1])) {
      body.push(`<text x="${MARGIN.left + plotW + 6}" y="${sy(t, right) + 4}">${fmt(t)}</text>`);
    }
  }
  const distinct = [...new Set(xs)].sort((a, b) => a - b);
  const xTicks = distinct.length <= 12 ? distinct : ticks(xMin, xMax).filter((x) => x >= xMin && x <= xMax);
  for (const x of xTicks) {
    body.push(`<text x="${sx(x)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${fmt(x)}</text>`);
  }
  body.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH + 34}" text-anchor="middle">${escape(spec.xLabel)}</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(spec.leftLabel)}</text>`,
  );
  if (right && spec.rightLabel !== undefined) {
    body.push(
      `<text transform="translate(${WIDTH - 14} ${MARGIN.top + plotH / 2}) rotate(90)" text-anchor="middle">${escape(spec.rightLabel)}</text>`,
    );
  }
  spec.series.forEach((series, index) => {
    const color = COLORS[index % COLORS.length] ?? '#000';
    const range = (series.axis ?? 'left') === 'right' && right ? right : left;
    const path = series.points.map(
      ([x, y], i) => `${i === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y, range).toFixed(1)}`,
    );
    body.push(
      `<path d="${path.join(' ')}" fill="none" stroke="${color}" stroke-width="2"${series.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    for (const [x, y] of series.points) {
      body.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y, range).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    const lx = 12 + (index % 3) * 236;
    const ly = HEIGHT - 24 + Math.floor(index / 3) * 15;
    const dash = series.dashed === true ? ' stroke-dasharray="6 4"' : '';
    body.push(
      `<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 22}" y="${ly}">${escape(series.name)}${series.axis === 'right' ? ' (right axis)' : ''}</text>`,
    );
  });
  return frame(spec.title, body);
}

export interface BarChartSpec {
  title: string;
  yLabel: string;
  categories: string[];
  series: { name: string; values: number[] }[];
  /** A horizontal reference line, e.g. a goal. */
  reference?: { value: number; label: string };
}

export function barChart(spec: BarChartSpec): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const all = spec.series.flatMap((s) => s.values).concat(spec.reference ? [spec.reference.value] : []);
  const t = ticks(0, Math.max(...all.filter((v) => Number.isFinite(v)), 0.001));
  const top = t[t.length - 1] ?? 1;
  const sy = (v: number): number => MARGIN.top + plotH - (v / top) * plotH;
  const body: string[] = [];
  for (const tick of t) {
    body.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${sy(tick)}" y2="${sy(tick)}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 6}" y="${sy(tick) + 4}" text-anchor="end">${fmt(tick)}</text>`,
    );
  }
  const groupW = plotW / spec.categories.length;
  const barW = (groupW * 0.8) / spec.series.length;
  spec.categories.forEach((category, c) => {
    const gx = MARGIN.left + c * groupW + groupW * 0.1;
    spec.series.forEach((series, s) => {
      const value = series.values[c] ?? 0;
      if (!Number.isFinite(value)) return;
      const x = gx + s * barW;
      body.push(
        `<rect x="${x.toFixed(1)}" y="${sy(value).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(MARGIN.top + plotH - sy(value)).toFixed(1)}" fill="${COLORS[s % COLORS.length] ?? '#000'}"/>`,
        `<text x="${(x + barW / 2).toFixed(1)}" y="${(sy(value) - 3).toFixed(1)}" text-anchor="middle" font-size="10">${fmt(value)}</text>`,
      );
    });
    body.push(
      `<text x="${(gx + groupW * 0.4).toFixed(1)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${escape(category)}</text>`,
    );
  });
  if (spec.reference) {
    const y = sy(spec.reference.value);
    body.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" stroke="#000" stroke-dasharray="5 4"/>`,
      `<text x="${MARGIN.left + plotW + 4}" y="${y + 4}" font-size="11">${escape(spec.reference.label)}</text>`,
    );
  }
  body.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(spec.yLabel)}</text>`,
  );
  spec.series.forEach((series, s) => {
    const lx = MARGIN.left + s * 170;
    body.push(
      `<rect x="${lx}" y="${HEIGHT - 22}" width="12" height="12" fill="${COLORS[s % COLORS.length] ?? '#000'}"/>`,
      `<text x="${lx + 16}" y="${HEIGHT - 12}">${escape(series.name)}</text>`,
    );
  });
  return frame(spec.title, body);
}
