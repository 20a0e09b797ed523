// Small DOM helpers. Everything that comes from data goes in as text
// nodes or attribute values, never as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Properties set directly rather than as attributes.
const PROPERTIES = new Set(['hidden', 'disabled', 'checked', 'value', 'selected', 'open']);

function apply(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'text') node.textContent = String(value);
    else if (name === 'on') for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (PROPERTIES.has(name) && !(node instanceof SVGElement)) node[name] = value;
    else node.setAttribute(name === 'className' ? 'class' : name, value === true ? '' : String(value));
  }
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** An HTML element: h('button', {type: 'button', on: {click}}, 'Save'). */
export function h(tag, attrs = {}, ...children) {
  return append(apply(document.createElement(tag), attrs), children);
}

/** An SVG element, built the same way. */
export function s(tag, attrs = {}, ...children) {
  return append(apply(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** The element with this id; a missing one is a bug in the page. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node;
}

/** Replace the children of `node`. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** Show or hide. */
export function show(node, visible = true) {
  node.hidden = !visible;
}

/** Wait `ms`, or less if `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      resolve();
    }
  });
}

const latest = new WeakMap();

/** Put `text` in a live region so screen readers read it, even when it
 * repeats the message already there. */
export function say(region, text) {
  latest.set(region, text);
  if (region.textContent !== text) {
    region.textContent = text;
    return;
  }
  region.textContent = '';
  setTimeout(() => {
    if (latest.get(region) === text) region.textContent = text;
  }, 50);
}
