// The worker page: sign in, pick a project, label task after task.
//
// One task at a time. An answer or skip in flight is resent as the very same
// request until the server replies (the server stores an answer once and
// gives a retry the same reply), so nothing counts twice.

import { Api, ApiError, NetworkError, Secret, seg, withQuery } from './api.js';
import { Countdown } from './countdown.js';
import { AlertBox } from './alert.js';
import { byId, fill, say, show } from './dom.js';
import { money, spokenDuration } from './format.js';
import { listenForShortcuts } from './keys.js';
import { delayAfter, pause, retryNow } from './retry.js';
import { renderProjects, renderStanding } from './standing.js';
import { setUpSignIn } from './signin.js';
import { labelButtons, sameLabels, taskContent } from './task.js';

const WAIT_SECONDS = 25;
const PROJECT_PAGE_SIZE = 100; // the most GET /api/v1/work/projects gives at once
const PROJECT_PAGES = 20;

const api = new Api(new Secret('crowd.worker-token'));

const ui = {
  status: byId('status'),
  who: byId('who'),
  workspace: byId('workspace'),
  heading: byId('task-heading'),
  project: byId('task-project'),
  idle: byId('idle'),
  body: byId('task-body'),
  instructions: byId('instructions'),
  instructionsBody: byId('instructions-body'),
  data: byId('task-data'),
  buttons: byId('label-buttons'),
  skip: byId('skip'),
  feedback: byId('feedback'),
  feedbackText: byId('feedback-text'),
  choices: byId('project-choices'),
};

const state = {
  session: null, // AbortController: everything of this sign-in
  poll: null, // AbortController of the running long-poll
  projects: [],
  projectId: '', // '' = any project
  lease: null, // {id, labels, project, expired}
  sending: false,
  instructionsHtml: null,
  labels: [],
};

const countdown = new Countdown(byId('countdown'), {
  warn: (seconds) => say(ui.status, `${spokenDuration(seconds)} left for this task.`),
  expire: leaseRanOut,
});

const alertBox = new AlertBox(byId('alert'), byId('alert-action'));
const showAlert = (text, action) => alertBox.show(text, action);
const clearAlert = () => alertBox.clear();

// ---- signing in and out ----

const signIn = setUpSignIn({
  secret: api.secret,
  what: 'worker token',
  verify: () => api.get('/api/v1/work/me').then((reply) => reply.body),
  onSignedIn: begin,
  onSignedOut: end,
});

function begin(me) {
  state.session = new AbortController();
  ui.who.textContent = `Signed in as ${me.name}`;
  show(ui.who, true);
  show(ui.workspace, true);
  showStanding(me);
  refreshProjects();
  if (me.blocked) {
    showAlert('Your account is blocked: no tasks can be given to you.');
    return;
  }
  findWork();
}

function end() {
  state.session?.abort();
  stopPolling();
  countdown.stop();
  Object.assign(state, {
    session: null,
    lease: null,
    sending: false,
    projects: [],
    projectId: '',
    instructionsHtml: null,
    labels: [],
  });
  for (const node of [ui.instructionsBody, ui.data, ui.buttons, ui.choices]) fill(node);
  delete ui.choices.dataset.signature;
  show(ui.feedback, false);
  clearAlert();
  say(ui.status, '');
  show(ui.who, false);
  show(ui.workspace, false);
}

function signedOutBecause(error) {
  if (error instanceof ApiError && error.status === 401) {
    signIn.signOut('Your token is no longer accepted. Sign in again.');
    return true;
  }
  return false;
}

// ---- waiting for work ----

function stopPolling() {
  state.poll?.abort();
  state.poll = null;
}

/** Ask for a task; while there is none, keep a long-poll open. */
async function findWork() {
  stopPolling();
  const poll = new AbortController();
  state.poll = poll;
  const { signal } = poll;
  let failures = 0;
  let idleShown = false;
  while (!signal.aborted) {
    // The first ask returns at once, so "no work" shows without delay.
    const wait = idleShown ? WAIT_SECONDS : 0;
    const path = withQuery('/api/v1/work/next', { project_id: state.projectId, wait });
    try {
      const reply = await api.get(path, { signal });
      if (failures) clearAlert();
      failures = 0;
      if (reply.status === 200) {
        state.poll = null;
        showTask(reply.body);
        return;
      }
      if (!idleShown) showIdle();
      idleShown = true;
      refreshProjects();
    } catch (error) {
      if (signal.aborted) return;
      failures += 1;
      if (!(await waitProblem(error, failures, signal))) return;
    }
  }
}

/** Deal with a failed request for work; false to stop asking. */
async function waitProblem(error, failures, signal) {
  if (signedOutBecause(error)) return false;
  if (error instanceof ApiError && (error.type === 'worker-blocked' || error.status === 404) && state.projectId) {
    const name = projectName(state.projectId);
    state.projectId = '';
    await refreshProjects();
    showAlert(`You can no longer work on ${name}. Showing tasks from any project instead.`);
    return true;
  }
  if (error instanceof ApiError && error.type === 'worker-blocked') {
    showAlert('Your account is blocked: no tasks can be given to you.');
    showWaiting(false);
    return false;
  }
  const delay = delayAfter(error, failures);
  showAlert(`${problemText(error)} Trying again in ${Math.round(delay / 1000)} s.`, {
    label: 'Try again now',
    run: retryNow,
  });
  await pause(delay, signal);
  return true;
}

function problemText(error) {
  if (error instanceof NetworkError) return 'Connection lost.';
  if (error.status === 429) return 'Too many requests.';
  if (error.status >= 500) return 'The server is not available right now.';
  return `Something went wrong (${error.message}).`;
}

function showWaiting(waiting) {
  show(ui.idle, waiting);
  show(ui.body, false);
  ui.project.textContent = '';
}

function showIdle() {
  showWaiting(true);
  say(ui.status, 'No work right now. Waiting for new tasks…');
}

// ---- one task ----

function showTask(lease) {
  const { project } = lease;
  state.lease = { id: lease.assignment_id, labels: project.labels, project, expired: false };
  show(ui.idle, false);
  show(ui.body, true);
  ui.project.textContent = `${project.name} · ${money(project.reward, project.currency)} per answer`;
  showInstructions(project.instructions_html || '');
  fill(ui.data, ...taskContent(lease.data ?? {}));
  if (!sameLabels(state.labels, project.labels)) {
    state.labels = project.labels;
    fill(ui.buttons, ...labelButtons(project.labels, answer));
  }
  setButtonsUsable(true);
  countdown.start(deadline(lease));
  say(ui.status, `New task from ${project.name}. ${spokenDuration(countdown.remaining())} to answer.`);
  if (!document.activeElement || document.activeElement === document.body) ui.heading.focus();
}

/** The lease's end by this browser's clock (never later than a full lease
 * from now, in case the clock is behind). */
function deadline(lease) {
  const full = Date.now() + lease.project.lease_seconds * 1000;
  const given = Date.parse(lease.expires_at);
  return Number.isNaN(given) ? full : Math.min(given, full);
}

function showInstructions(html) {
  if (html !== state.instructionsHtml) {
    state.instructionsHtml = html;
    // The one place markup from the server is used: markdown the server
    // rendered with raw HTML escaped (instructions_html).
    ui.instructionsBody.innerHTML = html;
    for (const link of ui.instructionsBody.querySelectorAll('a[href]')) {
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
    }
  }
  show(ui.instructions, html.trim() !== '');
}

function setButtonsUsable(usable) {
  for (const button of [...ui.buttons.children, ui.skip]) button.setAttribute('aria-disabled', String(!usable));
}

function leaseRanOut() {
  if (!state.lease || state.sending) return;
  state.lease.expired = true;
  setButtonsUsable(false);
  showAlert('Time ran out for this task, so it may go to someone else.', {
    label: 'Get a new task',
    run: nextTask,
  });
  alertBox.focusAction();
}

function nextTask() {
  state.lease = null;
  countdown.stop();
  findWork();
}

// ---- answering and skipping ----

function usable() {
  return state.lease !== null && !state.lease.expired && !state.sending;
}

async function answer(label) {
  if (!usable()) return;
  const request = { assignmentId: state.lease.id, label };
  show(ui.feedback, false);
  const path = `/api/v1/work/assignments/${seg(request.assignmentId)}/answer`;
  const receipt = await deliver((signal) => api.post(path, { label: request.label }, { signal }), `Your answer “${label}”`);
  if (receipt === null) return;
  say(ui.status, `Saved: ${label}.`);
  showFeedback(receipt.feedback);
  refreshStanding();
  nextTask();
}

async function skip() {
  if (!usable()) return;
  const path = `/api/v1/work/assignments/${seg(state.lease.id)}/skip`;
  const receipt = await deliver((signal) => api.post(path, undefined, { signal }), 'Your skip');
  if (receipt === null) return;
  say(ui.status, 'Skipped.');
  nextTask();
}

/** Send `call` until the server replies; the reply body, or null when the
 * task is over for another reason (already dealt with here). */
async function deliver(call, what) {
  state.sending = true;
  setButtonsUsable(false);
  clearAlert();
  const { signal } = state.session;
  try {
    for (let failures = 1; ; failures += 1) {
      try {
        const reply = await call(signal);
        if (failures > 1) clearAlert();
        return reply.body;
      } catch (error) {
        if (signal.aborted) return null;
        if (!(error instanceof NetworkError || error.status >= 500 || error.status === 429)) {
          await taskProblem(error);
          return null;
        }
        const delay = delayAfter(error, failures);
        showAlert(
          `${problemText(error)} ${what} is not confirmed yet; it will be sent again and counts only once. ` +
            `Trying again in ${Math.round(delay / 1000)} s.`,
          { label: 'Send again now', run: retryNow },
        );
        await pause(delay, signal);
      }
    }
  } finally {
    state.sending = false;
  }
}

/** The server refused an answer or skip: say why and move on. */
async function taskProblem(error) {
  if (signedOutBecause(error)) return;
  const lease = state.lease;
  if (error.type === 'worker-blocked') {
    const me = await api.get('/api/v1/work/me').then((r) => r.body, () => null);
    if (me?.blocked) {
      countdown.stop();
      state.lease = null;
      showWaiting(false);
      showAlert('Your account is blocked: no tasks can be given to you.');
      return;
    }
    showAlert(`You are blocked on ${lease.project.name}: your answers there are no longer accepted.`);
    await api.post(`/api/v1/work/assignments/${seg(lease.id)}/skip`).catch(() => null);
    if (state.projectId === lease.project.id) state.projectId = '';
    refreshProjects();
    refreshStanding();
  } else if (error.type === 'lease-expired') {
    showAlert('Too late: the time for that task ran out and it no longer needs an answer. Here is the next task.');
  } else if (error.type === 'assignment-closed' || error.type === 'already-answered') {
    showAlert('That task was already closed. Here is the next one.');
  } else {
    showAlert(`That did not work: ${error.message}. Here is the next task.`);
  }
  nextTask();
}

function showFeedback(feedback) {
  if (!feedback) return;
  const verdict = feedback.correct
    ? `Correct: the answer is “${feedback.label}”.`
    : `Not quite: the expected answer was “${feedback.label}”.`;
  ui.feedbackText.textContent = feedback.explanation ? `${verdict} ${feedback.explanation}` : verdict;
  ui.feedback.classList.toggle('is-correct', Boolean(feedback.correct));
  show(ui.feedback, true);
  say(ui.status, verdict);
}

ui.skip.addEventListener('click', skip);

listenForShortcuts({
  enabled: usable,
  answer: (n) => {
    const label = state.lease.labels[n - 1];
    if (label !== undefined) answer(label);
    return label !== undefined;
  },
  skip,
});

// ---- projects and standing ----

function projectName(id) {
  return state.projects.find((p) => p.id === id)?.name ?? 'that project';
}

async function refreshProjects() {
  if (!state.session) return;
  try {
    state.projects = await openProjects(state.session.signal);
  } catch (error) {
    signedOutBecause(error);
    return;
  }
  if (state.projectId && !state.projects.some((p) => p.id === state.projectId)) state.projectId = '';
  renderProjects(ui.choices, state.projects, state.projectId);
}

/** Every project open to this worker: the server sends them a page at a
 * time, and the page follows the cursors (up to a bound, so a list that
 * grows without end cannot keep it asking). */
async function openProjects(signal) {
  const projects = [];
  let cursor = '';
  for (let page = 0; page < PROJECT_PAGES; page += 1) {
    const path = withQuery('/api/v1/work/projects', { limit: PROJECT_PAGE_SIZE, cursor });
    const { body } = await api.get(path, { signal });
    projects.push(...body.items);
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  return projects;
}

ui.choices.addEventListener('change', (event) => {
  state.projectId = event.target.value;
  const name = state.projectId ? projectName(state.projectId) : 'any project';
  if (state.lease) {
    say(ui.status, `Your next task will come from ${name}.`);
  } else if (state.poll) {
    say(ui.status, `Looking for tasks from ${name}.`);
    findWork();
  }
});

async function refreshStanding() {
  if (!state.session) return;
  try {
    showStanding((await api.get('/api/v1/work/me', { signal: state.session.signal })).body);
  } catch (error) {
    signedOutBecause(error);
  }
}

function showStanding(me) {
  renderStanding(byId('totals'), byId('standing-table'), byId('standing-rows'), me);
}
