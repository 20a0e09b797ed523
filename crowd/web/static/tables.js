// The operator's tables: workers (with block / unblock) and gold health.

import { h } from './dom.js';
import { decimal, money, percent } from './format.js';

/** Table rows for the workers of a project. `act(worker, block)` is
 * called when a block or unblock button is pressed. */
export function workerRows(workers, { act, showEarnings }) {
  return workers.map((worker) =>
    h(
      'tr',
      { 'data-worker': worker.worker_id },
      h('th', { scope: 'row' }, worker.name || worker.worker_id),
      h('td', {}, reliability(worker)),
      h('td', {}, gold(worker)),
      h('td', {}, String(worker.answers)),
      showEarnings ? h('td', {}, earnings(worker.earnings)) : null,
      h('td', { className: worker.blocked ? 'is-bad' : '' }, status(worker)),
      h(
        'td',
        {},
        h(
          'button',
          {
            type: 'button',
            className: 'secondary',
            'aria-label': `${worker.blocked ? 'Unblock' : 'Block'} ${worker.name || worker.worker_id}`,
            on: { click: (event) => act(worker, !worker.blocked, event.currentTarget) },
          },
          worker.blocked ? 'Unblock' : 'Block',
        ),
      ),
    ),
  );
}

function reliability(worker) {
  if (worker.reliability === null || worker.reliability === undefined) return 'not estimated yet';
  const low = worker.reliability_low;
  const high = worker.reliability_high;
  const interval = low === null || low === undefined ? '' : ` [${decimal(low)}, ${decimal(high)}]`;
  return `${decimal(worker.reliability)}${interval}`;
}

function gold(worker) {
  if (!worker.gold_answers) return '0 / 0';
  return `${worker.gold_correct} / ${worker.gold_answers} (${percent(worker.gold_correct / worker.gold_answers)})`;
}

function status(worker) {
  if (!worker.blocked) return 'Active';
  return worker.blocked_reason ? `Blocked: ${worker.blocked_reason}` : 'Blocked';
}

function earnings(earned) {
  if (!earned) return '—';
  return `${money(earned.pending, earned.currency)} pending, ${money(earned.approved, earned.currency)} approved`;
}

/** Table rows for the gold tasks of a project. */
export function goldRows(items) {
  return items.map((item) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, item.external_id),
      h('td', {}, item.label),
      h('td', {}, String(item.shown)),
      h('td', {}, String(item.answers)),
      h('td', {}, item.share_correct === null || item.share_correct === undefined ? '—' : percent(item.share_correct)),
      h('td', { className: item.flags?.length ? 'is-bad' : '' }, item.flags?.length ? item.flags.join(', ').replaceAll('_', ' ') : 'none'),
    ),
  );
}
