// ragd web UI: plain ES modules, no framework. Server text is always inserted as text
// (textContent / text nodes), never as HTML: documents are untrusted.
//
// This module starts the UI and maps routes to views; lib/ holds what the views share
// (DOM helpers, API client, SSE reader, polling, formatting), views/ one module per page.

import { getLang, setLang, t } from './i18n.js';
import { whenUnauthorized } from './lib/api.js';
import { render, setViews } from './lib/router.js';
import { chatView } from './views/chat.js';
import { chunksView } from './views/chunks.js';
import { kbView } from './views/kb.js';
import { keysView } from './views/keys.js';
import { kbListView } from './views/kbs.js';
import { searchView } from './views/search.js';
import { auth, needSignIn, paintSignOut, refreshAuth, signInView, signOut } from './views/signin.js';
import { systemView } from './views/system.js';

/** The view for the hash `#/section/a/b/c`. */
async function showView(view, [section, a, b, c], isCurrent) {
  const route = section || 'kbs';
  if (auth.signIn) signInView(view);
  else if (route === 'kb' && a && b === 'doc' && c) await chunksView(view, a, c, isCurrent);
  else if (route === 'kb' && a) await kbView(view, a, isCurrent);
  else if (route === 'search') await searchView(view, isCurrent);
  else if (route === 'chat') await chatView(view, a || null, isCurrent);
  else if (route === 'system') await systemView(view, isCurrent);
  else if (route === 'keys') await keysView(view, isCurrent);
  else await kbListView(view, isCurrent);
}

function applyStaticText() {
  document.documentElement.lang = getLang() === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  document.getElementById('nav').setAttribute('aria-label', t('nav.main'));
  document.getElementById('lang').value = getLang();
  document.title = `ragd · ${t('app.tagline')}`;
  paintSignOut();
}

function start() {
  setViews(showView);
  whenUnauthorized(needSignIn);
  const select = document.getElementById('lang');
  select.addEventListener('change', () => {
    setLang(select.value);
    applyStaticText();
    render();
  });
  window.addEventListener('hashchange', () => render({ focus: true }));
  document.getElementById('signout').addEventListener('click', signOut);
  applyStaticText();
  // Whether this server wants a key, and whether this browser has signed in.
  refreshAuth().then((s) => {
    if (s?.required && !s.authenticated) auth.signIn = true;
    paintSignOut();
    render();
  });
}

start();
