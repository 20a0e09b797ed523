// The visible lease countdown. It says when time is short, once at each
// warning, through the page's status region.

import { clock } from './format.js';

const WARNINGS = [60, 10];

export class Countdown {
  /** display: the element showing m:ss; warn(seconds): time is short;
   * expire(): the lease has run out. */
  constructor(display, { warn, expire }) {
    this.display = display;
    this.warn = warn;
    this.expire = expire;
    this.timer = null;
  }

  start(deadline) {
    this.stop();
    this.deadline = deadline;
    this.pending = WARNINGS.filter((seconds) => this.remaining() > seconds);
    this.tick();
    if (this.remaining() > 0) this.timer = setInterval(() => this.tick(), 250);
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Seconds left, never below zero. */
  remaining() {
    return Math.max(0, (this.deadline - Date.now()) / 1000);
  }

  tick() {
    const left = this.remaining();
    this.display.textContent = clock(Math.ceil(left));
    this.display.classList.toggle('is-short', left <= WARNINGS.at(-1));
    while (this.pending.length && left <= this.pending[0]) {
      const seconds = this.pending.shift();
      if (left > 0) this.warn(seconds);
    }
    if (left <= 0) {
      this.stop();
      this.expire();
    }
  }
}
