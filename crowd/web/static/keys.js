// Keyboard shortcuts of the worker page: 1–9 answer with that label, S
// skips. They never fire while the person types in a field, with a
// modifier held, or on a key held down (auto-repeat).

const TYPING = new Set(['text', 'password', 'search', 'email', 'number', 'url', 'tel']);

function typing(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') return true;
  return target.tagName === 'INPUT' && TYPING.has(target.type);
}

/** enabled(): whether shortcuts apply now; answer(n): digit n (1–9);
 * skip(): S. */
export function listenForShortcuts({ enabled, answer, skip }) {
  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.repeat || event.altKey || event.ctrlKey || event.metaKey) return;
    if (typing(event.target) || !enabled()) return;
    if (/^[1-9]$/.test(event.key)) {
      if (answer(Number(event.key))) event.preventDefault();
    } else if (event.key === 's' || event.key === 'S') {
      event.preventDefault();
      skip();
    }
  });
}
