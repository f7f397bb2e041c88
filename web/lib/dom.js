// DOM helpers: elements built from data (text is always text, never HTML), toasts, the
// confirmation dialog.

import { t } from '../i18n.js';

/** Creates an element. attrs: class, text, on<Event> handlers, boolean/other attributes. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value') el.value = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces the children of `el`, like h() takes them (arrays flattened, null skipped). */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const el = h('div', { class: `toast ${kind}`, text: message });
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

export function errorBox(err) {
  return h('p', { class: 'notice error', role: 'alert', text: t('common.error', { message: err.message }) });
}

export function confirmDialog(message, okLabel = t('common.delete')) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = message;
  document.getElementById('confirm-ok').textContent = okLabel;
  document.getElementById('confirm-cancel').textContent = t('common.cancel');
  const opener = document.activeElement;
  return new Promise((resolve) => {
    dlg.returnValue = '';
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      if (opener && opener.isConnected) opener.focus();
    }, { once: true });
    dlg.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}
