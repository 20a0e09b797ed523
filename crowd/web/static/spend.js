// A project's spend: totals and a chart for the selected project, and a
// meter of spend against budget under each project of the list. Until the
// server offers /spend (a 404 for the route), the page says so.

import { ApiError, seg } from './api.js';
import { legend, spendOverTime } from './charts.js';
import { fill, h } from './dom.js';
import { minorPerMajor, money } from './format.js';

export class SpendBoard {
  constructor(api, { totals, chart }) {
    this.api = api;
    this.totals = totals;
    this.chart = chart;
    this.available = null; // unknown until the server first answers
    this.byProject = new Map();
  }

  /** Forget what was fetched (the project list was reloaded). */
  reset() {
    this.byProject.clear();
  }

  /** The project's spend, or null when the server has no /spend. */
  async fetch(project, signal) {
    if (this.available === false) return null;
    try {
      const spend = (await this.api.get(`/api/v1/projects/${seg(project.id)}/spend`, { signal })).body;
      this.available = true;
      this.byProject.set(project.id, spend);
      return spend;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        this.available = false;
        return null;
      }
      throw error;
    }
  }

  /** Totals and the chart of one project. */
  async show(project, signal) {
    const spend = await this.fetch(project, signal);
    if (!spend) {
      fill(this.totals);
      fill(this.chart, h('p', {}, 'Spend not available.'));
      return;
    }
    const format = (amount) => money(amount, spend.currency);
    const forecast = spend.forecast ?? {};
    const totals = [
      ['Budget', spend.budget === null || spend.budget === undefined ? 'none' : format(spend.budget)],
      ['Committed', format(spend.committed)],
      ['Posted', format(spend.posted)],
      ['Pending', format(spend.pending)],
      ['Approved', format(spend.approved)],
      ['Bonuses', format(spend.bonuses)],
      ['Reversed', format(spend.reversed)],
      ['Cost to finish', format(forecast.cost_to_finish)],
      ['Total at finish', format(forecast.total_at_finish)],
    ];
    fill(this.totals, totals.map(([term, value]) => h('div', { className: 'total' }, h('dt', {}, term), h('dd', {}, value))));
    const daily = spend.daily ?? [];
    if (!daily.length) {
      fill(this.chart, h('p', { className: 'hint' }, 'Nothing spent yet.'));
      return;
    }
    const floor = minorPerMajor(spend.currency);
    fill(
      this.chart,
      spendOverTime(daily, { title: 'Spend to date by day', budget: spend.budget, format, floor }),
      legend([
        ['swatch-bar', 'spend to date'],
        ['swatch-limit', 'budget'],
      ]),
    );
  }

  /** Fill each empty `.spend-meter` of the list items (data-project ids). */
  async meters(items, projects, signal) {
    if (!this.available) return;
    for (const item of items) {
      const project = projects.find((p) => p.id === item.dataset.project);
      const meter = item.querySelector('.spend-meter');
      if (!project || !meter || meter.dataset.loaded) continue;
      meter.dataset.loaded = 'yes';
      let spend;
      try {
        spend = this.byProject.get(project.id) ?? (await this.fetch(project, signal));
      } catch {
        continue; // the list stays useful without it
      }
      if (spend) fill(meter, ...spendMeter(project, spend));
    }
  }
}

function spendMeter(project, spend) {
  const format = (amount) => money(amount, spend.currency);
  if (spend.budget === null || spend.budget === undefined) {
    return [h('span', { className: 'meter-label' }, `${format(spend.committed)} committed · no budget`)];
  }
  const labelId = `spend-${project.id}`;
  const text = `${format(spend.committed)} of ${format(spend.budget)} budget committed`;
  return [
    h('span', { className: 'meter-label', id: labelId }, text),
    h('progress', {
      max: Math.max(1, spend.budget),
      value: Math.min(spend.committed, spend.budget),
      'aria-labelledby': labelId,
      class: spend.committed > spend.budget ? 'is-over' : null,
    }),
  ];
}
