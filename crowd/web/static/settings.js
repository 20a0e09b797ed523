// The project settings form. The server is the judge of what is valid: its
// 422 errors (errors[].loc names the field) are shown beside the fields.

import { fill, h, show } from './dom.js';
import { minorPerMajor, money } from './format.js';

const GROUPS = [
  {
    legend: 'Overlap and consensus',
    fields: [
      { name: 'min_overlap', label: 'Minimum answers per task', kind: 'int' },
      { name: 'max_overlap', label: 'Maximum answers per task', kind: 'int' },
      {
        name: 'confidence_target',
        label: 'Confidence target',
        kind: 'float',
        hint: 'Posterior (0–1) at which a task completes before the maximum.',
      },
      {
        name: 'evidence_half',
        label: 'Answers before a worker counts half',
        kind: 'int',
        hint: "For early completion, a worker's answers count n / (n + this), n their answers here; 0: in full.",
      },
    ],
  },
  {
    legend: 'Gold and onboarding',
    fields: [
      { name: 'gold_rate', label: 'Gold rate', kind: 'float', hint: 'Share of gold tasks, 0–1.' },
      { name: 'onboarding_tasks', label: 'Onboarding tasks', kind: 'int', hint: 'First tasks of a new worker.' },
      { name: 'onboarding_gold_rate', label: 'Onboarding gold rate', kind: 'float', hint: 'Share of gold, 0–1.' },
      { name: 'gold_feedback', label: 'Show workers the right answer after gold tasks', kind: 'bool' },
    ],
  },
  {
    legend: 'Quality rules',
    fields: [
      { name: 'min_gold_answers', label: 'Gold answers before a worker is judged', kind: 'int' },
      { name: 'min_accuracy', label: 'Minimum gold accuracy', kind: 'float', hint: '0–1; below it a worker is blocked.' },
      {
        name: 'review_threshold',
        label: 'Review threshold',
        kind: 'float',
        hint: 'Confidence (0–1) below which a finished task goes to review; 0 for never.',
      },
      { name: 'recollect_blocked', label: 'Collect new answers when a worker is blocked', kind: 'bool' },
    ],
  },
  {
    legend: 'Leases, pay and status',
    fields: [
      { name: 'lease_seconds', label: 'Lease (seconds)', kind: 'int' },
      { name: 'reward', label: 'Reward per answer', kind: 'money' },
      { name: 'bonus', label: 'Bonus', kind: 'money' },
      { name: 'budget', label: 'Budget', kind: 'money', nullable: true },
      {
        name: 'status',
        label: 'Status',
        kind: 'choice',
        options: [
          ['active', 'Active: hands out work'],
          ['paused', 'Paused: hands out no work'],
        ],
      },
    ],
  },
];

const FIELDS = GROUPS.flatMap((group) => group.fields);
const BY_NAME = new Map(FIELDS.map((field) => [field.name, field]));

export class SettingsForm {
  constructor(form, container, summary) {
    this.form = form;
    this.summary = summary;
    this.inputs = new Map();
    fill(container, GROUPS.map((group) => this.group(group)));
  }

  group(group) {
    return h('fieldset', {}, h('legend', {}, group.legend), group.fields.map((field) => this.field(field)));
  }

  field(field) {
    const id = `setting-${field.name}`;
    const input = control(field, id);
    this.inputs.set(field.name, input);
    const hint = h('p', { className: 'hint', id: `${id}-hint`, hidden: !field.hint }, field.hint ?? '');
    const error = h('p', { className: 'field-error', id: `${id}-error`, hidden: true });
    const label = h('label', { for: id }, field.label);
    const body = field.kind === 'bool' ? [h('div', { className: 'check' }, input, label)] : [label, input];
    return h('div', { className: 'field', 'data-field': field.name }, ...body, hint, error);
  }

  /** Put the project's current values in the form. */
  load(project) {
    this.project = project;
    this.clearErrors();
    for (const [name, input] of this.inputs) {
      const value = project[name];
      if (BY_NAME.get(name).kind === 'bool') input.checked = Boolean(value);
      else input.value = value === null || value === undefined ? '' : String(value);
    }
    for (const field of FIELDS.filter((f) => f.kind === 'money')) {
      const hint = this.form.querySelector(`#setting-${field.name}-hint`);
      const unit = minorPerMajor(project.currency);
      const note = field.nullable ? ' Empty for no limit.' : '';
      hint.textContent = `In minor units of ${project.currency}: ${unit} = ${money(unit, project.currency)}.${note}`;
      show(hint, true);
    }
  }

  /** The settings that differ from the project's: {changes} or {errors}. */
  changes() {
    const changes = {};
    const errors = [];
    for (const [name, input] of this.inputs) {
      const read = readValue(BY_NAME.get(name), input);
      if ('error' in read) errors.push({ loc: [name], msg: read.error });
      else if (read.value !== this.project[name]) changes[name] = read.value;
    }
    return errors.length ? { errors } : { changes };
  }

  clearErrors() {
    show(this.summary, false);
    for (const [name, input] of this.inputs) {
      input.removeAttribute('aria-invalid');
      input.setAttribute('aria-describedby', `setting-${name}-hint`);
      const error = this.form.querySelector(`#setting-${name}-error`);
      error.textContent = '';
      show(error, false);
    }
  }

  /** Show problem+json `errors` beside their fields; the rest above the
   * form. Focuses the first field in error. */
  showErrors(errors, detail) {
    this.clearErrors();
    const general = [];
    let first = null;
    for (const error of errors) {
      const name = (error.loc ?? []).find((part) => this.inputs.has(part));
      if (!name) {
        general.push(error.msg ?? String(error));
        continue;
      }
      const input = this.inputs.get(name);
      const box = this.form.querySelector(`#setting-${name}-error`);
      box.textContent = box.textContent ? `${box.textContent} ${error.msg}` : error.msg;
      show(box, true);
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', `setting-${name}-error setting-${name}-hint`);
      first ??= input;
    }
    const count = errors.length - general.length;
    const lines = [...general];
    if (count) lines.unshift(`${count === 1 ? 'One setting needs' : `${count} settings need`} attention: see the marked fields.`);
    if (!lines.length && detail) lines.push(detail);
    this.summary.textContent = lines.join(' ');
    show(this.summary, lines.length > 0);
    (first ?? this.summary).focus?.();
    return lines.join(' ');
  }
}

function control(field, id) {
  if (field.kind === 'bool') return h('input', { type: 'checkbox', id, name: field.name });
  if (field.kind === 'choice') {
    return h(
      'select',
      { id, name: field.name },
      field.options.map(([value, text]) => h('option', { value }, text)),
    );
  }
  const decimal = field.kind === 'float';
  return h('input', {
    type: 'number',
    id,
    name: field.name,
    step: decimal ? 'any' : '1',
    inputmode: decimal ? 'decimal' : 'numeric',
  });
}

function readValue(field, input) {
  if (field.kind === 'bool') return { value: input.checked };
  if (field.kind === 'choice') return { value: input.value };
  const text = input.value.trim();
  if (text === '') {
    if (input.validity?.badInput) return { error: 'Enter a number.' };
    return field.nullable ? { value: null } : { error: 'Enter a value.' };
  }
  const value = Number(text);
  return Number.isFinite(value) ? { value } : { error: 'Enter a number.' };
}
