// One alert at a time in a live region, with at most one action button.

import { say, show } from './dom.js';

export class AlertBox {
  constructor(region, button) {
    this.region = region;
    this.button = button;
    this.action = null;
    button.addEventListener('click', () => {
      const action = this.action;
      this.clear();
      action?.run();
    });
  }

  /** Say `text`; `action` ({label, run}) adds a button. */
  show(text, action = null) {
    say(this.region, text);
    this.action = action;
    this.button.textContent = action ? action.label : '';
    show(this.button, Boolean(action));
  }

  clear() {
    this.show('');
  }

  focusAction() {
    this.button.focus();
  }
}
