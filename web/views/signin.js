// Sign-in for servers with an API key: the session's state, the form, signing out.

import { t } from '../i18n.js';
import { readResponse } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { render } from '../lib/router.js';

/** `signIn`: the sign-in form shows instead of the views; `required`: the server wants a key. */
export const auth = { signIn: false, required: false };

/** Asks the server whether it wants a key and what this browser's session may do: a reader
 * session hides the controls that change data (`.admin-only`), a key limited to some
 * knowledge bases those that make new ones (`.unscoped-only`), and only an admin on a server
 * with keys sees the API keys page (`.keys-only`). */
export async function refreshAuth() {
  const s = await fetch('/api/v1/auth').then((r) => (r.ok ? r.json() : null)).catch(() => null);
  auth.required = Boolean(s?.required);
  const role = s?.role || 'admin';
  document.body.dataset.role = role;
  document.body.dataset.scoped = String(Boolean(s?.scoped));
  document.body.dataset.keys = String(Boolean(s?.authenticated) && auth.required && role === 'admin' && !s?.scoped);
  return s;
}

/** A request was refused for want of credentials: show the sign-in form (once). */
export function needSignIn() {
  if (auth.signIn) return;
  auth.signIn = true;
  paintSignOut();
  render();
}

/** The Sign out button shows while signed in to a server that wants a key. */
export function paintSignOut() {
  const button = document.getElementById('signout');
  button.hidden = !auth.required || auth.signIn;
  button.textContent = t('auth.signOut');
}

export async function signOut() {
  try { await fetch('/api/v1/auth/logout', { method: 'POST' }); } catch { /* offline: still forget */ }
  needSignIn();
}

/** The sign-in form, in place of the view that was asked for. */
export function signInView(view) {
  const err = h('div', { class: 'form-error', 'aria-live': 'polite' });
  const input = h('input', {
    id: 'api-key', name: 'api_key', type: 'password', required: true, autocomplete: 'current-password',
  });
  const form = h('form', { class: 'card form signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: t('auth.title') }),
    h('p', { class: 'muted', text: t('auth.lead') }),
    h('div', { class: 'field' }, h('label', { for: 'api-key', text: t('auth.key') }), input),
    err,
    h('div', { class: 'row end' }, h('button', { type: 'submit', text: t('auth.submit') })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.replaceChildren();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const res = await fetch('/api/v1/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ api_key: input.value }),
      });
      if (res.status === 401) throw new Error(t('auth.wrong'));
      if (!res.ok) await readResponse(res);
      auth.signIn = false;
      await refreshAuth();
      paintSignOut();
      render({ focus: true });
    } catch (ex) {
      err.replaceChildren(h('p', { class: 'notice error', role: 'alert', text: ex.message }));
      input.select();
    } finally {
      button.disabled = false;
    }
  });
  view.append(form);
  input.focus();
}
