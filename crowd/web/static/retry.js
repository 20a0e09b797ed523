// Waiting before a retry: growing pauses that end early when the browser
// comes back online or the person asks to try again now.

import { sleep } from './dom.js';

const MAX_BACKOFF_MS = 30_000;
const wakers = new Set();

/** End every pause now. */
export function retryNow() {
  for (const wake of wakers) wake();
}

window.addEventListener('online', retryNow);

/** Wait `ms`, or less: when `signal` aborts or retryNow() is called. */
export async function pause(ms, signal) {
  const early = new AbortController();
  const wake = () => early.abort();
  wakers.add(wake);
  signal.addEventListener('abort', wake, { once: true });
  await sleep(ms, early.signal);
  wakers.delete(wake);
  signal.removeEventListener('abort', wake);
}

/** The pause before retry number `failures`: 1 s, 2 s, 4 s … up to 30 s,
 * with jitter so many clients do not retry in step. */
export function backoff(failures) {
  return Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(failures - 1, 5)) * (0.8 + 0.4 * Math.random());
}

/** The pause a failed request asks for: Retry-After on 429, else backoff. */
export function delayAfter(error, failures) {
  return error.status === 429 ? error.retryAfter * 1000 || 1000 : backoff(failures);
}
