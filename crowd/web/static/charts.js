// Charts as inline SVG, built with DOM calls. Each chart is an image with
// a title and a description that says in words what it shows.

import { h, s } from './dom.js';

const WIDTH = 400;
const HEIGHT = 220;
const MARGIN = { top: 12, right: 14, bottom: 40, left: 50 };
let serial = 0;

function frame(title, description, width = WIDTH, height = HEIGHT) {
  serial += 1;
  const titleId = `chart-title-${serial}`;
  const descId = `chart-desc-${serial}`;
  return s(
    'svg',
    {
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-labelledby': `${titleId} ${descId}`,
      preserveAspectRatio: 'xMidYMid meet',
    },
    s('title', { id: titleId }, title),
    s('desc', { id: descId }, description),
  );
}

/** `values` (each 0–1) counted into `n` equal bins. */
export function binShares(values, n = 10) {
  const counts = new Array(n).fill(0);
  for (const value of values) {
    if (typeof value !== 'number' || Number.isNaN(value)) continue;
    counts[Math.min(n - 1, Math.max(0, Math.floor(value * n)))] += 1;
  }
  return counts.map((count, i) => ({ from: i / n, to: (i + 1) / n, count }));
}

function niceMax(value) {
  if (value <= 5) return Math.max(1, Math.ceil(value));
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

function axes(svg, plotWidth, plotHeight) {
  const { left, top } = MARGIN;
  svg.append(
    s('line', { class: 'axis', x1: left, y1: top + plotHeight, x2: left + plotWidth, y2: top + plotHeight }),
    s('line', { class: 'axis', x1: left, y1: top, x2: left, y2: top + plotHeight }),
  );
}

function yTicks(svg, maxValue, plotHeight, format) {
  for (const fraction of [0, 0.5, 1]) {
    const y = MARGIN.top + plotHeight * (1 - fraction);
    svg.append(s('text', { x: MARGIN.left - 6, y: y + 4, 'text-anchor': 'end' }, format(maxValue * fraction)));
  }
}

function axisTitle(svg, text, x, y, rotate = false) {
  const attrs = { x, y, 'text-anchor': 'middle' };
  if (rotate) attrs.transform = `rotate(-90 ${x} ${y})`;
  svg.append(s('text', attrs, text));
}

/** Bars over bins of 0–1: `bins` from binShares. */
export function histogram(bins, { title, noun, xLabel }) {
  const total = bins.reduce((sum, bin) => sum + bin.count, 0);
  const range = (bin) => `${bin.from.toFixed(1)}–${bin.to.toFixed(1)}`;
  const description = total
    ? `${total} ${noun}s. ${bins.map((bin) => `${range(bin)}: ${bin.count}`).join('; ')}.`
    : `No ${noun}s to show yet.`;
  const svg = frame(title, description);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = niceMax(Math.max(0, ...bins.map((bin) => bin.count)));
  const slot = plotWidth / bins.length;
  bins.forEach((bin, i) => {
    const height = (bin.count / top) * plotHeight;
    const bar = s('rect', {
      class: 'bar',
      x: MARGIN.left + i * slot + 1,
      y: MARGIN.top + plotHeight - height,
      width: Math.max(1, slot - 2),
      height,
    });
    bar.append(s('title', {}, `${range(bin)}: ${bin.count} ${noun}${bin.count === 1 ? '' : 's'}`));
    svg.append(bar);
  });
  axes(svg, plotWidth, plotHeight);
  yTicks(svg, top, plotHeight, (v) => String(Math.round(v)));
  for (let i = 0; i <= bins.length; i += 2) {
    const x = MARGIN.left + i * slot;
    const label = i === bins.length ? bins.at(-1).to : bins[i].from;
    svg.append(s('text', { x, y: MARGIN.top + plotHeight + 14, 'text-anchor': 'middle' }, label.toFixed(1)));
  }
  axisTitle(svg, xLabel, MARGIN.left + plotWidth / 2, HEIGHT - 6);
  axisTitle(svg, `${noun}s`, 12, MARGIN.top + plotHeight / 2, true);
  return svg;
}

/** A heat map of a confusion matrix: rows are the true label, columns the
 * answered label, both in `labels` order. */
export function heatmap(labels, matrix, { title }) {
  const n = labels.length;
  const cell = Math.max(18, Math.min(48, Math.floor(300 / n)));
  const longest = Math.max(...labels.map((label) => Math.min(label.length, 14)));
  const left = 24 + longest * 6.5;
  const top = 30 + longest * 6.5;
  const width = left + n * cell + 8;
  const height = top + n * cell + 8;
  const rows = labels.map((truth, i) => `true ${truth}: ${labels.map((answered, j) => `${answered} ${matrix[i][j].toFixed(2)}`).join(', ')}`);
  const svg = frame(title, `Rows: true label; columns: answered label. ${rows.join('. ')}.`, width, height);
  const short = (label) => (label.length > 14 ? `${label.slice(0, 13)}…` : label);
  labels.forEach((label, i) => {
    const y = top + i * cell + cell / 2 + 4;
    svg.append(s('text', { x: left - 6, y, 'text-anchor': 'end' }, short(label)));
    const x = left + i * cell + cell / 2;
    svg.append(s('text', { x, y: top - 6, transform: `rotate(-45 ${x} ${top - 6})` }, short(label)));
  });
  matrix.forEach((row, i) =>
    row.forEach((value, j) => {
      const x = left + j * cell;
      const y = top + i * cell;
      const rect = s('rect', { x, y, width: cell - 1, height: cell - 1, fill: heat(value) });
      rect.append(s('title', {}, `true ${labels[i]}, answered ${labels[j]}: ${value.toFixed(2)}`));
      svg.append(rect);
      if (cell >= 28) {
        const attrs = { x: x + cell / 2, y: y + cell / 2 + 4, 'text-anchor': 'middle' };
        attrs.class = value > 0.5 ? 'cell-text-light' : 'cell-text-dark';
        svg.append(s('text', attrs, value.toFixed(2)));
      }
    }),
  );
  axisTitle(svg, 'answered →', left + (n * cell) / 2, 12);
  axisTitle(svg, 'true ↓', 10, top + (n * cell) / 2, true);
  return svg;
}

/** White to the accent blue, for a value 0–1. */
function heat(value) {
  const t = Math.min(1, Math.max(0, value));
  const mix = (from, to) => Math.round(from + (to - from) * t);
  return `rgb(${mix(255, 29)}, ${mix(255, 78)}, ${mix(255, 216)})`;
}

/** Cumulative spend by day, with the budget as a dashed line. `daily`:
 * [{date, rewards, bonuses, reversals}], amounts in minor units. */
export function spendOverTime(daily, { title, budget, format, floor = 1 }) {
  let total = 0;
  const points = daily.map((day) => {
    total += (day.rewards || 0) + (day.bonuses || 0) - (day.reversals || 0);
    return { date: day.date, total };
  });
  const budgetText = budget === null || budget === undefined ? 'no budget' : `budget ${format(budget)}`;
  const description = points.length
    ? `Spend to date ${format(total)} (${budgetText}). ${points.map((p) => `${p.date}: ${format(p.total)}`).join('; ')}.`
    : 'Nothing spent yet.';
  const svg = frame(title, description);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = niceMax(Math.max(floor, total, budget ?? 0, ...points.map((p) => p.total)));
  const x = (i) => MARGIN.left + (points.length < 2 ? plotWidth / 2 : (i / (points.length - 1)) * plotWidth);
  const y = (value) => MARGIN.top + plotHeight * (1 - value / top);
  axes(svg, plotWidth, plotHeight);
  yTicks(svg, top, plotHeight, format);
  if (budget !== null && budget !== undefined) {
    svg.append(s('line', { class: 'limit', x1: MARGIN.left, x2: MARGIN.left + plotWidth, y1: y(budget), y2: y(budget) }));
  }
  if (points.length) {
    const path = points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)} ${y(p.total).toFixed(1)}`).join(' ');
    svg.append(s('path', { class: 'line', d: path }));
    points.forEach((p, i) => {
      const dot = s('circle', { class: 'bar', cx: x(i), cy: y(p.total), r: 3 });
      dot.append(s('title', {}, `${p.date}: ${format(p.total)}`));
      svg.append(dot);
    });
    const ends = points.length === 1 ? [0] : [0, points.length - 1];
    for (const i of ends) {
      const anchor = ends.length === 1 ? 'middle' : i === 0 ? 'start' : 'end';
      svg.append(s('text', { x: x(i), y: MARGIN.top + plotHeight + 14, 'text-anchor': anchor }, points[i].date));
    }
  }
  return svg;
}

/** An HTML legend: [[className, text]]. */
export function legend(entries) {
  return h(
    'ul',
    { className: 'legend' },
    entries.map(([swatch, text]) => h('li', {}, h('span', { className: `swatch ${swatch}`, 'aria-hidden': 'true' }), text)),
  );
}
