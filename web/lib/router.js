// The hash router: one view at a time in <main>, with cleanups when it is left.

import { errorBox, h } from './dom.js';

const main = () => document.getElementById('main');
let cleanups = [];
let renderSeq = 0;
let showView = null;

/**
 * Sets what fills the view for a route: `fn(view, parts, isCurrent)`, where `parts` are the
 * decoded segments of the hash and `isCurrent()` is false once another render began.
 */
export function setViews(fn) { showView = fn; }

/** Runs `fn` when the current view is left (the next render). */
export function onLeave(fn) { cleanups.push(fn); }

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return parts;
}

/** Renders the view for the current hash. `focus` moves keyboard focus to the new view. */
export async function render({ focus = false } = {}) {
  for (const fn of cleanups.splice(0)) {
    try { fn(); } catch { /* ignore */ }
  }
  const seq = ++renderSeq;
  const parts = parseRoute();
  const route = parts[0] || 'kbs';
  for (const link of document.querySelectorAll('#nav a')) {
    const active = link.dataset.route === (route === 'kb' ? 'kbs' : route);
    if (active) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  const root = main();
  const view = h('div', { class: 'view' });
  root.replaceChildren(view);
  const isCurrent = () => seq === renderSeq;
  try {
    await showView(view, parts, isCurrent);
  } catch (e) {
    if (isCurrent()) view.replaceChildren(errorBox(e));
  }
  if (focus && isCurrent()) {
    const heading = view.querySelector('h1');
    if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus({ preventScroll: false }); }
  }
}

/** Shows `hash`; rendered again when it is already shown. */
export function go(hash) {
  if (location.hash === hash) render({ focus: true });
  else location.hash = hash;
}
