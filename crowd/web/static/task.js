// How a task's data and its answer buttons look. Data is always put in as
// text: a `text` field as a paragraph, an https `image` / `image_url` as a
// picture, anything else as a key/value list.

import { h } from './dom.js';

const IMAGE_KEYS = ['image', 'image_url'];

/** The nodes that show `data`. */
export function taskContent(data) {
  const rest = { ...data };
  const nodes = [];
  if (typeof data.text === 'string') {
    nodes.push(h('p', { className: 'task-text' }, data.text));
    delete rest.text;
  }
  for (const key of IMAGE_KEYS) {
    const url = httpsUrl(data[key]);
    if (url === null) continue;
    nodes.push(picture(url, imageAlt(data)));
    delete rest[key];
  }
  if (typeof rest.alt === 'string' && nodes.some((node) => node.tagName === 'FIGURE')) delete rest.alt;
  if (Object.keys(rest).length) nodes.push(keyValues(rest));
  if (!nodes.length) nodes.push(h('p', { className: 'hint' }, 'This task has no content.'));
  return nodes;
}

/** The URL if `value` is an absolute https URL, else null. */
export function httpsUrl(value) {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

function imageAlt(data) {
  for (const key of ['alt', 'caption', 'title']) {
    if (typeof data[key] === 'string' && data[key].trim()) return data[key];
  }
  return 'The image to label';
}

function picture(url, alt) {
  const img = h('img', { src: url, alt, className: 'task-image', referrerpolicy: 'no-referrer', decoding: 'async' });
  const figure = h('figure', { className: 'task-figure' }, img);
  img.addEventListener('error', () => {
    figure.replaceChildren(h('p', { className: 'field-error' }, 'The image could not be loaded: ', url));
  });
  return figure;
}

function keyValues(object) {
  const list = h('dl', { className: 'task-fields' });
  for (const [key, value] of Object.entries(object)) {
    list.append(h('dt', {}, key), h('dd', {}, valueNode(value)));
  }
  return list;
}

function valueNode(value) {
  if (typeof value === 'string') return h('span', { className: 'task-value' }, value);
  if (value === null || typeof value !== 'object') return h('span', { className: 'task-value' }, JSON.stringify(value));
  return h('pre', { className: 'task-value' }, JSON.stringify(value, null, 2));
}

/** One button per label; the first nine get the shortcuts 1–9. */
export function labelButtons(labels, onAnswer) {
  return labels.map((label, index) => {
    const key = index < 9 ? String(index + 1) : null;
    return h(
      'button',
      {
        type: 'button',
        className: 'label-button',
        'data-label': label,
        'aria-keyshortcuts': key,
        on: { click: () => onAnswer(label) },
      },
      key ? h('kbd', { 'aria-hidden': 'true' }, key) : null,
      h('span', {}, label),
    );
  });
}

/** Whether two label lists are the same, in order. */
export function sameLabels(a, b) {
  return a.length === b.length && a.every((label, i) => label === b[i]);
}
