// The sign-in form both pages share: check the secret with one API call,
// keep it for this tab, offer sign-out.

import { ApiError, NetworkError } from './api.js';
import { byId, show } from './dom.js';

/**
 * secret: a Secret; what: "worker token" or "operator key";
 * verify(): resolves when the server accepts the secret (its result goes to
 * onSignedIn), rejects with ApiError or NetworkError otherwise.
 */
export function setUpSignIn({ secret, what, verify, onSignedIn, onSignedOut }) {
  const section = byId('sign-in');
  const form = byId('sign-in-form');
  const input = byId('token');
  const error = byId('token-error');
  const signOutButton = byId('sign-out');
  const submit = form.querySelector('button[type="submit"]');

  function fieldError(message) {
    error.textContent = message;
    show(error, Boolean(message));
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
  }

  function signedIn(result) {
    fieldError('');
    input.value = '';
    show(section, false);
    show(signOutButton, true);
    onSignedIn(result);
  }

  function signOut(message = '') {
    secret.value = '';
    show(signOutButton, false);
    show(section, true);
    onSignedOut();
    fieldError(message);
    input.focus();
  }

  async function attempt() {
    submit.disabled = true;
    try {
      signedIn(await verify());
    } catch (problem) {
      secret.value = '';
      fieldError(describe(problem, what));
      input.focus();
    } finally {
      submit.disabled = false;
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) {
      fieldError(`Enter your ${what}.`);
      input.focus();
      return;
    }
    secret.value = value;
    attempt();
  });
  signOutButton.addEventListener('click', () => signOut());

  if (secret.value) attempt();
  else input.focus();
  return { signOut };
}

function describe(problem, what) {
  if (problem instanceof NetworkError) return 'No answer from the server. Check your connection and try again.';
  if (problem instanceof ApiError && problem.status === 401) return `That ${what} was not accepted.`;
  if (problem instanceof ApiError && problem.type === 'worker-blocked') return 'This worker account is blocked.';
  if (problem instanceof ApiError && problem.status === 403) return `This is not a valid ${what} for this page.`;
  return `Could not sign in: ${problem.message}`;
}
