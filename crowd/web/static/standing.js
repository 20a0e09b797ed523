// The worker page's side panel: the projects to pick from, and the
// worker's standing and earnings.

import { fill, h, show } from './dom.js';
import { count, money, percent } from './format.js';

const ANY = { id: '', name: 'Any project', detail: 'Tasks from every project open to you' };

/** Radio buttons: "any project", then one per open project. Rebuilt only
 * when something changed, keeping keyboard focus where it was. */
export function renderProjects(container, projects, selectedId) {
  const choices = [ANY, ...projects.map((p) => ({ id: p.id, name: p.name, detail: projectDetail(p) }))];
  const signature = JSON.stringify([choices, selectedId]);
  if (container.dataset.signature === signature) return;
  container.dataset.signature = signature;
  const focused = container.contains(document.activeElement) ? document.activeElement.value : null;
  fill(
    container,
    choices.map((choice, index) => {
      const id = `project-choice-${index}`;
      return h(
        'div',
        { className: 'choice' },
        h('input', { type: 'radio', name: 'project', id, value: choice.id, checked: choice.id === selectedId }),
        h(
          'label',
          { for: id },
          h('span', { className: 'choice-name' }, choice.name),
          h('span', { className: 'choice-detail' }, choice.detail),
        ),
      );
    }),
  );
  if (focused !== null) {
    [...container.querySelectorAll('input')].find((input) => input.value === focused)?.focus();
  }
}

function projectDetail(project) {
  return `${money(project.reward, project.currency)} per answer · ${count(project.open_tasks, 'open task')}`;
}

/** Totals (answers; pending and available earnings once the server
 * reports a balance) and a row per project. */
export function renderStanding(totals, table, rows, me) {
  const items = [['Answers', String(me.answers ?? 0)]];
  const balance = me.balance;
  if (balance) {
    items.push(['Pending earnings', money(balance.pending, balance.currency)]);
    items.push(['Available earnings', money(balance.available, balance.currency)]);
  }
  fill(
    totals,
    items.map(([term, value]) =>
      h('div', { className: 'total', 'data-total': term }, h('dt', {}, term), h('dd', {}, value)),
    ),
  );
  const projects = me.projects ?? [];
  show(table, projects.length > 0);
  fill(
    rows,
    projects.map((p) =>
      h(
        'tr',
        {},
        h('th', { scope: 'row' }, p.name),
        h('td', {}, String(p.answers)),
        h('td', {}, p.reliability === null || p.reliability === undefined ? 'not rated yet' : percent(p.reliability)),
        h('td', { className: p.blocked ? 'is-bad' : '' }, p.blocked ? 'Blocked' : 'Active'),
      ),
    ),
  );
}
