// The operator dashboard: projects and their progress, settings, workers,
// charts, gold health, and a consensus refit on demand.

import { Api, ApiError, Secret, seg, withQuery } from './api.js';
import { binShares, heatmap, histogram } from './charts.js';
import { byId, fill, h, say, show } from './dom.js';
import { count } from './format.js';
import { SettingsForm } from './settings.js';
import { setUpSignIn } from './signin.js';
import { SpendBoard } from './spend.js';
import { goldRows, workerRows } from './tables.js';

const PAGE_LIMIT = 1000;
const MAX_RESULT_PAGES = 50;

const api = new Api(new Secret('crowd.operator-key'));

const ui = {
  status: byId('status'),
  alert: byId('alert'),
  dashboard: byId('dashboard'),
  projectList: byId('project-list'),
  noProjects: byId('no-projects'),
  project: byId('project'),
  heading: byId('project-heading'),
  meta: byId('project-meta'),
  refit: byId('refit'),
  settingsForm: byId('settings-form'),
  settingsStatus: byId('settings-status'),
  workersTable: byId('workers-table'),
  workerRows: byId('worker-rows'),
  noWorkers: byId('no-workers'),
  earningsColumn: byId('earnings-col'),
  reliabilityChart: byId('reliability-chart'),
  confusionWorker: byId('confusion-worker'),
  confusionChart: byId('confusion-chart'),
  confidenceChart: byId('confidence-chart'),
  goldSummary: byId('gold-summary'),
  goldTable: byId('gold-table'),
  goldRows: byId('gold-rows'),
};

const state = {
  session: null,
  projects: [],
  projectId: null,
  detail: null, // AbortController of the selected project's loads
  workers: [],
  labels: [],
};

const spend = new SpendBoard(api, { totals: byId('spend-totals'), chart: byId('spend-chart') });
const settings = new SettingsForm(ui.settingsForm, byId('settings-fields'), byId('settings-summary'));

const signIn = setUpSignIn({
  secret: api.secret,
  what: 'operator key',
  verify: () => api.get('/api/v1/projects').then((reply) => reply.body),
  onSignedIn: begin,
  onSignedOut: end,
});

function showAlert(text) {
  say(ui.alert, text);
}

/** Say what went wrong; false when the key is no longer accepted. */
function report(error, what) {
  if (error.name === 'AbortError') return true;
  if (error instanceof ApiError && error.status === 401) {
    signIn.signOut('Your key is no longer accepted. Sign in again.');
    return false;
  }
  showAlert(`Could not ${what}: ${error.message}`);
  return true;
}

function begin(listing) {
  state.session = new AbortController();
  show(ui.dashboard, true);
  showProjects(listing.items);
  const wanted = new URLSearchParams(location.hash.slice(1)).get('project');
  const first = state.projects.find((p) => p.id === wanted) ?? state.projects[0];
  if (first) selectProject(first.id);
}

function end() {
  state.session?.abort();
  state.detail?.abort();
  Object.assign(state, { session: null, projects: [], projectId: null, detail: null, workers: [] });
  show(ui.dashboard, false);
  showAlert('');
}

// ---- projects ----

async function refreshProjects() {
  try {
    const reply = await api.get('/api/v1/projects', { signal: state.session.signal });
    showProjects(reply.body.items);
  } catch (error) {
    report(error, 'load the projects');
  }
}

function showProjects(items) {
  state.projects = items;
  spend.reset();
  show(ui.noProjects, items.length === 0);
  fill(ui.projectList, items.map(projectItem));
  loadSpendMeters();
}

function projectItem(project) {
  const { tasks, completed, answers } = project.progress;
  const labelId = `progress-${project.id}`;
  return h(
    'li',
    { className: 'project-item', 'data-project': project.id, 'aria-current': String(project.id === state.projectId) },
    h('button', { type: 'button', className: 'secondary', on: { click: () => selectProject(project.id, true) } }, project.name),
    h('p', { className: 'hint' }, `${project.status} · ${count(project.labels.length, 'label')}`),
    h(
      'div',
      { className: 'meter' },
      h('span', { className: 'meter-label', id: labelId }, `${completed} of ${count(tasks, 'task')} done · ${count(answers, 'answer')}`),
      h('progress', { max: Math.max(1, tasks), value: completed, 'aria-labelledby': labelId }),
    ),
    h('div', { className: 'meter spend-meter' }),
  );
}

async function selectProject(id, focus = false) {
  const project = state.projects.find((p) => p.id === id);
  if (!project) return;
  state.projectId = id;
  history.replaceState(null, '', `#project=${encodeURIComponent(id)}`);
  for (const item of ui.projectList.children) item.setAttribute('aria-current', String(item.dataset.project === id));
  show(ui.project, true);
  ui.heading.textContent = project.name;
  ui.meta.textContent = `${project.id} · labels: ${project.labels.join(', ')} · ${project.status}`;
  settings.load(project);
  say(ui.settingsStatus, '');
  if (focus) ui.heading.focus();
  state.detail?.abort();
  state.detail = new AbortController();
  await loadDetail(project, state.detail.signal);
}

function loadDetail(project, signal) {
  return Promise.all([
    loadWorkers(project, signal),
    loadConfidence(project, signal),
    spend
      .show(project, signal)
      .then(loadSpendMeters)
      .catch((error) => report(error, 'load the spend')),
    loadGold(project, signal),
  ]);
}

/** Spend against budget under each project of the list. */
function loadSpendMeters() {
  return spend.meters([...ui.projectList.children], state.projects, state.session?.signal);
}

function projectPath(project, rest = '') {
  return `/api/v1/projects/${seg(project.id)}${rest}`;
}

// ---- settings ----

ui.settingsForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const project = state.projects.find((p) => p.id === state.projectId);
  const read = settings.changes();
  if (read.errors) {
    showAlert(settings.showErrors(read.errors));
    return;
  }
  settings.clearErrors();
  const names = Object.keys(read.changes);
  if (!names.length) {
    say(ui.settingsStatus, 'Nothing changed.');
    return;
  }
  try {
    const reply = await api.patch(projectPath(project), read.changes, { signal: state.session.signal });
    Object.assign(project, reply.body);
    settings.load(project);
    showAlert('');
    say(ui.settingsStatus, `Saved: ${names.join(', ').replaceAll('_', ' ')}.`);
    refreshProjects();
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) {
      say(ui.settingsStatus, '');
      showAlert(settings.showErrors(error.problem.errors ?? [], error.problem.detail));
    } else {
      report(error, 'save the settings');
    }
  }
});

// ---- workers, reliability and confusion ----

async function allWorkers(project, signal) {
  const items = [];
  let cursor = null;
  do {
    const path = withQuery(projectPath(project, '/workers'), { limit: PAGE_LIMIT, cursor });
    const page = (await api.get(path, { signal })).body;
    items.push(...page.items);
    state.labels = page.labels;
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

async function loadWorkers(project, signal) {
  try {
    state.workers = await allWorkers(project, signal);
  } catch (error) {
    report(error, 'load the workers');
    return;
  }
  const showEarnings = state.workers.some((w) => w.earnings);
  show(ui.earningsColumn, showEarnings);
  show(ui.workersTable, state.workers.length > 0);
  show(ui.noWorkers, state.workers.length === 0);
  fill(ui.workerRows, workerRows(state.workers, { act: setBlocked, showEarnings }));
  const reliabilities = state.workers.map((w) => w.reliability).filter((r) => r !== null && r !== undefined);
  fill(
    ui.reliabilityChart,
    histogram(binShares(reliabilities), { title: 'Workers by reliability', noun: 'worker', xLabel: 'reliability' }),
  );
  showConfusionChoices();
}

async function setBlocked(worker, block, button) {
  const project = state.projects.find((p) => p.id === state.projectId);
  const name = worker.name || worker.worker_id;
  button.disabled = true;
  try {
    await api.post(projectPath(project, `/workers/${seg(worker.worker_id)}/${block ? 'block' : 'unblock'}`));
  } catch (error) {
    button.disabled = false;
    report(error, `${block ? 'block' : 'unblock'} ${name}`);
    return;
  }
  say(ui.status, `${name} is ${block ? 'blocked' : 'unblocked'} on ${project.name}.`);
  await loadWorkers(project, state.detail.signal);
  ui.workerRows.querySelector(`tr[data-worker="${CSS.escape(worker.worker_id)}"] button`)?.focus();
}

function showConfusionChoices() {
  const withMatrix = state.workers.filter((w) => Array.isArray(w.confusion));
  const previous = ui.confusionWorker.value;
  fill(
    ui.confusionWorker,
    withMatrix.length
      ? withMatrix.map((w) => h('option', { value: w.worker_id }, w.name || w.worker_id))
      : h('option', { value: '' }, 'No worker has a fitted matrix yet'),
  );
  ui.confusionWorker.disabled = withMatrix.length === 0;
  if (withMatrix.some((w) => w.worker_id === previous)) ui.confusionWorker.value = previous;
  showConfusion();
}

function showConfusion() {
  const worker = state.workers.find((w) => w.worker_id === ui.confusionWorker.value);
  if (!worker || !Array.isArray(worker.confusion)) {
    fill(ui.confusionChart, h('p', { className: 'hint' }, 'Refit consensus after some answers to see a matrix.'));
    return;
  }
  const title = `Confusion matrix of ${worker.name || worker.worker_id}`;
  fill(ui.confusionChart, heatmap(state.labels, worker.confusion, { title }));
}

ui.confusionWorker.addEventListener('change', showConfusion);

// ---- task confidence ----

async function loadConfidence(project, signal) {
  const values = [];
  let cursor = null;
  let pages = 0;
  try {
    do {
      const path = withQuery(projectPath(project, '/results'), { limit: PAGE_LIMIT, cursor });
      const page = (await api.get(path, { signal })).body;
      for (const item of page.items) {
        const value = item.confidence ?? topPosterior(item.posterior);
        if (value !== null) values.push(value);
      }
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor && pages < MAX_RESULT_PAGES);
  } catch (error) {
    report(error, 'load the results');
    return;
  }
  const chart = histogram(binShares(values), { title: 'Tasks by confidence', noun: 'task', xLabel: 'confidence' });
  const note = cursor ? h('p', { className: 'hint' }, `The first ${values.length} tasks.`) : null;
  fill(ui.confidenceChart, chart, note);
}

function topPosterior(posterior) {
  const shares = Object.values(posterior ?? {}).filter((v) => typeof v === 'number');
  return shares.length ? Math.max(...shares) : null;
}

// ---- gold health ----

async function loadGold(project, signal) {
  let health;
  try {
    health = (await api.get(projectPath(project, '/gold'), { signal })).body;
  } catch (error) {
    report(error, 'load the gold health');
    return;
  }
  const items = health.items ?? [];
  show(ui.goldTable, items.length > 0);
  fill(ui.goldRows, goldRows(items));
  ui.goldSummary.textContent = items.length
    ? `${count(items.length, 'gold task')}, ${health.flagged ?? 0} flagged. ` +
      `${count(health.workers_exhausted ?? 0, 'worker')} ${health.workers_exhausted === 1 ? 'has' : 'have'} seen every gold task.`
    : 'No gold tasks yet.';
}

// ---- refit and refresh ----

ui.refit.addEventListener('click', async () => {
  const project = state.projects.find((p) => p.id === state.projectId);
  ui.refit.disabled = true;
  say(ui.status, `Refitting consensus for ${project.name}…`);
  try {
    const fit = (await api.post(projectPath(project, '/consensus'), undefined, { signal: state.session.signal })).body;
    const converged = fit.converged ? 'converged' : 'did not converge';
    say(
      ui.status,
      `Consensus refit: ${count(fit.tasks, 'task')}, ${count(fit.workers, 'worker')}, ` +
        `${count(fit.iterations, 'iteration')}, ${converged}.`,
    );
    await Promise.all([loadWorkers(project, state.detail.signal), loadConfidence(project, state.detail.signal)]);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) showAlert('A refit of this project is already running.');
    else report(error, 'refit consensus');
  } finally {
    ui.refit.disabled = false;
  }
});

byId('refresh').addEventListener('click', async () => {
  await refreshProjects();
  const project = state.projects.find((p) => p.id === state.projectId);
  if (project) await selectProject(project.id);
  say(ui.status, 'Up to date.');
});
