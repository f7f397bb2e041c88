// ragd web UI: plain ES module, no framework. Server text is always inserted as text
// (textContent / text nodes), never as HTML: documents are untrusted.

import { t, getLang, setLang } from './i18n.js';
import { markdownBlocks } from './markdown.js';

// ---------- DOM helpers ----------

/** Creates an element. attrs: class, text, on<Event> handlers, boolean/other attributes. */
function h(tag, attrs, ...children) {
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
function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const enc = encodeURIComponent;

function fmtBytes(n) {
  if (n == null) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

function fmtDate(s) {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s || '';
  return new Intl.DateTimeFormat(getLang() === 'zh' ? 'zh-CN' : 'en', {
    dateStyle: 'medium', timeStyle: 'short',
  }).format(d);
}

function fmtScore(v) {
  if (v == null) return t('search.none');
  const a = Math.abs(v);
  return a !== 0 && a < 0.1 ? v.toFixed(4) : v.toFixed(3);
}

// ---------- highlighting ----------

const STOPWORDS = new Set(('a an and are as at be by do does for from how i in is it of on or the to was '
  + 'what when where which who why with').split(' '));

/** Terms of a query worth highlighting: words (2+ letters, no stopwords), CJK runs and their bigrams. */
function queryTerms(q) {
  const terms = new Set();
  for (const m of String(q).toLowerCase().matchAll(/[\p{L}\p{N}_]+/gu)) {
    const w = m[0];
    if (/\p{Script=Han}/u.test(w)) {
      for (const run of w.match(/\p{Script=Han}+/gu) || []) {
        if (run.length === 1) terms.add(run);
        for (let i = 0; i + 1 < run.length; i++) terms.add(run.slice(i, i + 2));
      }
      for (const rest of w.split(/\p{Script=Han}+/u)) if (rest.length >= 2 && !STOPWORDS.has(rest)) terms.add(rest);
    } else if (w.length >= 2 && !STOPWORDS.has(w)) {
      terms.add(w);
    }
  }
  return [...terms];
}

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A word without a common English ending (plants → plant, reflects → reflect), at least 3 letters. */
function wordRoot(term) {
  const root = term.replace(/(?:ing|ed|es|s|e)$/u, '');
  return root.length >= 3 ? root : term;
}

/**
 * A regex for `terms`. `stems`: the terms are BM25's (stemmed), so a non-Han term matches
 * words that start with its root, whole.
 */
function termsRe(terms, stems) {
  const alts = [...terms].sort((a, b) => b.length - a.length).map((term) => (
    stems && !/\p{Script=Han}/u.test(term) ? `(?<![\\p{L}\\p{N}])${escapeRe(wordRoot(term))}[\\p{L}\\p{N}]*` : escapeRe(term)));
  return new RegExp(alts.join('|'), 'giu');
}

/** Text with each term wrapped in <mark>, as DOM nodes. */
function highlighted(text, terms, stems = false) {
  const frag = document.createDocumentFragment();
  if (!terms.length) { frag.append(text); return frag; }
  const re = termsRe(terms, stems);
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (!m[0]) continue;
    if (m.index > last) frag.append(text.slice(last, m.index));
    frag.append(h('mark', { text: m[0] }));
    last = m.index + m[0].length;
  }
  if (last < text.length) frag.append(text.slice(last));
  return frag;
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, { method = 'GET', body, signal } = {}) {
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      signal,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', t('common.network', { message: e.message }));
  }
  return readResponse(res);
}

async function readResponse(res) {
  if (res.status === 401) needSignIn();
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    throw new ApiError(res.status, data?.error?.code || `http_${res.status}`,
      data?.error?.message || `${res.status} ${res.statusText}`);
  }
  return data;
}

// ---------- toasts and confirmation ----------

function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const el = h('div', { class: `toast ${kind}`, text: message });
  box.append(el);
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
}

function errorBox(err) {
  return h('p', { class: 'notice error', role: 'alert', text: t('common.error', { message: err.message }) });
}

function confirmDialog(message) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = message;
  document.getElementById('confirm-ok').textContent = t('common.delete');
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

// ---------- router ----------

const main = () => document.getElementById('main');
let cleanups = [];
let renderSeq = 0;

function onLeave(fn) { cleanups.push(fn); }

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return parts;
}

/** Renders the view for the current hash. `focus` moves keyboard focus to the new view. */
async function render({ focus = false } = {}) {
  for (const fn of cleanups.splice(0)) {
    try { fn(); } catch { /* ignore */ }
  }
  const seq = ++renderSeq;
  const [section, a, b, c] = parseRoute();
  const route = section || 'kbs';
  for (const link of document.querySelectorAll('#nav a')) {
    const active = link.dataset.route === (route === 'kb' ? 'kbs' : route);
    if (active) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
  const root = main();
  const view = h('div', { class: 'view' });
  root.replaceChildren(view);
  const isCurrent = () => seq === renderSeq;
  try {
    if (auth.signIn) signInView(view);
    else if (route === 'kb' && a && b === 'doc' && c) await chunksView(view, a, c, isCurrent);
    else if (route === 'kb' && a) await kbView(view, a, isCurrent);
    else if (route === 'search') await searchView(view, isCurrent);
    else if (route === 'chat') await chatView(view, a || null, isCurrent);
    else if (route === 'system') await systemView(view, isCurrent);
    else await kbListView(view, isCurrent);
  } catch (e) {
    if (isCurrent()) view.replaceChildren(errorBox(e));
  }
  if (focus && isCurrent()) {
    const heading = view.querySelector('h1');
    if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus({ preventScroll: false }); }
  }
}

function go(hash) {
  if (location.hash === hash) render({ focus: true });
  else location.hash = hash;
}

// ---------- system: the index and backups ----------

/** Index shape and maintenance, backups with a button to take one. */
async function systemView(view, isCurrent) {
  const indexBox = h('section', { class: 'card system-index', 'aria-labelledby': 'sys-index' },
    h('h2', { id: 'sys-index', text: t('sys.index') }), h('p', { class: 'muted', text: t('common.loading') }));
  const backupList = h('div', { class: 'backup-list' }, h('p', { class: 'muted', text: t('common.loading') }));
  const button = h('button', { type: 'button', text: t('sys.backupNow') });
  const backupBox = h('section', { class: 'card system-backups', 'aria-labelledby': 'sys-backups' },
    h('div', { class: 'row spread' }, h('h2', { id: 'sys-backups', text: t('sys.backups') }), button),
    h('p', { class: 'hint', text: t('sys.backupHint') }), backupList);
  view.append(h('div', { class: 'page-head' }, h('h1', { text: t('sys.title') })), indexBox, backupBox);

  const paintIndex = (info) => {
    const o = info.optimize || {};
    const row = (key, value) => [h('dt', { text: t(key) }), h('dd', { 'data-k': key.split('.')[1], text: String(value) })];
    fill(indexBox, h('h2', { id: 'sys-index', text: t('sys.index') }),
      h('dl', { class: 'stats' },
        row('sys.points', info.points),
        row('sys.segments', info.segments),
        row('sys.indexed', info.indexed_vectors),
        row('sys.pending', info.changes_since_optimize),
        row('sys.optimized', o.last_finished_at
          ? t('sys.optimizedAt', { when: fmtDate(o.last_finished_at), ms: o.last_duration_ms, runs: o.runs })
          : t('sys.never'))),
      o.last_error ? h('p', { class: 'notice error', role: 'alert', text: o.last_error }) : null);
  };
  const paintBackups = (backups) => {
    if (!backups.length) { backupList.replaceChildren(h('p', { class: 'empty', text: t('sys.noBackups') })); return; }
    const rows = backups.map((b) => h('tr', { 'data-name': b.name },
      h('td', { class: 'name', text: b.name }),
      h('td', { class: 'nowrap', text: b.created_at ? fmtDate(b.created_at) : '' }),
      h('td', { class: 'num', text: fmtBytes(b.bytes) }),
      h('td', null, h('code', { text: b.path }))));
    backupList.replaceChildren(h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': t('sys.backups') },
      h('table', { class: 'runs' },
        h('thead', null, h('tr', null, ['sys.name', 'sys.created', 'sys.size', 'sys.path'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        h('tbody', null, rows))));
  };
  const load = async () => {
    const [info, listed] = await Promise.all([api('/index'),
      api('/backups').catch((e) => { if (e.status === 403) return null; throw e; })]);
    if (!isCurrent()) return;
    paintIndex(info);
    if (listed) paintBackups(listed.backups || []);
    else {
      // A reader key: backups are for the admin key.
      button.hidden = true;
      backupList.replaceChildren(h('p', { class: 'muted', text: t('sys.adminOnly') }));
    }
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.textContent = t('sys.backingUp');
    try {
      const b = await api('/backups', { method: 'POST' });
      toast(t('sys.backedUp', { path: b.path }));
      await load();
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      button.disabled = false;
      button.textContent = t('sys.backupNow');
    }
  });
  await load();
}

// ---------- sign-in (servers with an API key) ----------

const auth = { signIn: false, required: false };

/** Asks the server whether it wants a key and what this browser's session may do; a reader
 * session hides the controls that change data (`.admin-only`). */
async function refreshAuth() {
  const s = await fetch('/api/v1/auth').then((r) => (r.ok ? r.json() : null)).catch(() => null);
  auth.required = Boolean(s?.required);
  document.body.dataset.role = s?.role || 'admin';
  return s;
}

/** A request was refused for want of credentials: show the sign-in form (once). */
function needSignIn() {
  if (auth.signIn) return;
  auth.signIn = true;
  paintSignOut();
  render();
}

function paintSignOut() {
  const button = document.getElementById('signout');
  button.hidden = !auth.required || auth.signIn;
  button.textContent = t('auth.signOut');
}

async function signOut() {
  try { await fetch('/api/v1/auth/logout', { method: 'POST' }); } catch { /* offline: still forget */ }
  needSignIn();
}

function signInView(view) {
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

// ---------- knowledge bases ----------

let kbCache = { list: [], model: '' };

async function loadKbs() {
  const data = await api('/knowledge-bases');
  kbCache = { list: data.knowledge_bases || [], model: data.embedding_model || '' };
  return kbCache;
}

async function kbListView(view, isCurrent) {
  const listBox = h('div', { class: 'kb-list' }, h('p', { class: 'muted', text: t('common.loading') }));
  const form = kbForm();
  view.append(
    h('div', { class: 'page-head' }, h('h1', { text: t('kb.title') })),
    h('div', { class: 'split' }, listBox, form),
  );
  const { list, model } = await loadKbs();
  if (!isCurrent()) return;
  form.querySelector('.model-name').textContent = model;
  if (!list.length) {
    listBox.replaceChildren(h('p', { class: 'empty', text: t('kb.empty') }));
    return;
  }
  const ul = h('ul', { class: 'cards', 'aria-label': t('kb.title') });
  for (const kb of list) {
    const del = h('button', {
      type: 'button', class: 'danger small admin-only', text: t('common.delete'),
      'aria-label': `${t('common.delete')} ${kb.name}`,
      onclick: async () => {
        if (!await confirmDialog(t('kb.confirmDelete', { name: kb.name, n: kb.document_count }))) return;
        try {
          await api(`/knowledge-bases/${enc(kb.id)}`, { method: 'DELETE' });
          toast(t('kb.deleted', { name: kb.name }));
          render();
        } catch (e) { toast(e.message, 'error'); }
      },
    });
    ul.append(h('li', { class: 'card kb-card' },
      h('h2', null, h('a', { href: `#/kb/${enc(kb.id)}`, text: kb.name })),
      kb.description ? h('p', { class: 'desc', text: kb.description }) : null,
      h('p', { class: 'meta' },
        h('span', { class: 'count', text: t('kb.docs', { n: kb.document_count }) }), ' · ',
        h('span', { class: 'count', text: t('kb.chunks', { n: kb.chunk_count }) }), ' · ',
        h('span', { text: t('kb.chunking', { size: kb.chunk_size, overlap: kb.chunk_overlap }) })),
      h('p', { class: 'meta', text: fmtDate(kb.created_at) }),
      h('div', { class: 'row' },
        h('a', { class: 'button small', href: `#/kb/${enc(kb.id)}`, text: t('kb.open') }), del)));
  }
  listBox.replaceChildren(ul);
}

function kbForm() {
  const err = h('div', { class: 'form-error', 'aria-live': 'polite' });
  const field = (id, label, input, hint) => h('div', { class: 'field' },
    h('label', { for: id, text: label }), input, hint ? h('p', { class: 'hint', text: hint }) : null);
  const form = h('form', { class: 'card form admin-only', 'aria-labelledby': 'kb-new-title' },
    h('h2', { id: 'kb-new-title', text: t('kb.new') }),
    field('kb-name', t('kb.name'), h('input', { id: 'kb-name', name: 'name', required: true, maxlength: 100, autocomplete: 'off' })),
    field('kb-desc', t('kb.description'), h('textarea', { id: 'kb-desc', name: 'description', rows: 2, maxlength: 2000 })),
    h('div', { class: 'row fields' },
      field('kb-size', t('kb.chunkSize'), h('input', { id: 'kb-size', name: 'chunk_size', type: 'number', min: 16, max: 8192, inputmode: 'numeric' })),
      field('kb-overlap', t('kb.chunkOverlap'), h('input', { id: 'kb-overlap', name: 'chunk_overlap', type: 'number', min: 0, max: 4096, inputmode: 'numeric' }))),
    h('p', { class: 'hint', text: t('kb.defaultHint') }),
    h('p', { class: 'meta' }, `${t('kb.model')}: `, h('code', { class: 'model-name', text: kbCache.model })),
    err,
    h('div', { class: 'row end' }, h('button', { type: 'submit', text: t('kb.create') })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.replaceChildren();
    const fd = new FormData(form);
    const body = { name: String(fd.get('name')).trim(), description: String(fd.get('description') || '') };
    for (const k of ['chunk_size', 'chunk_overlap']) {
      const v = String(fd.get(k) || '').trim();
      if (v !== '') body[k] = Number(v);
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const kb = await api('/knowledge-bases', { method: 'POST', body });
      toast(t('kb.created', { name: kb.name }));
      go(`#/kb/${enc(kb.id)}`);
    } catch (ex) {
      err.replaceChildren(h('p', { class: 'notice error', role: 'alert', text: ex.message }));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// ---------- documents and uploads ----------

const BUSY = new Set(['queued', 'parsing', 'embedding']);
const uploads = []; // {id, kbId, file, status, loaded, message, el}
let uploadSeq = 0;
let activeUploads = 0;
const MAX_PARALLEL_UPLOADS = 3;
const docListeners = new Set(); // called after an upload finishes, to refresh the list

function queueFiles(kbId, files) {
  for (const file of files) {
    uploads.push({ id: ++uploadSeq, kbId, file, status: 'waiting', loaded: 0, message: '', el: null });
  }
  pumpUploads();
}

function pumpUploads() {
  while (activeUploads < MAX_PARALLEL_UPLOADS) {
    const item = uploads.find((u) => u.status === 'waiting');
    if (!item) return;
    activeUploads++;
    item.status = 'uploading';
    paintUpload(item);
    sendFile(item).finally(() => {
      activeUploads--;
      paintUpload(item);
      for (const fn of docListeners) fn(item.kbId);
      pumpUploads();
    });
  }
}

/** One request per file, with XMLHttpRequest for upload progress. */
function sendFile(item) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/knowledge-bases/${enc(item.kbId)}/documents`);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) { item.loaded = e.loaded / e.total; paintUpload(item); }
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) {
        item.loaded = 1;
        item.status = data?.documents?.[0]?.duplicate ? 'duplicate' : 'done';
      } else {
        if (xhr.status === 401) needSignIn();
        item.status = 'error';
        item.message = data?.error?.message || `${xhr.status} ${xhr.statusText}`;
      }
      resolve();
    });
    xhr.addEventListener('error', () => {
      item.status = 'error';
      item.message = t('common.network', { message: 'upload failed' });
      resolve();
    });
    const fd = new FormData();
    fd.append('file', item.file, item.file.name);
    xhr.send(fd);
  });
}

function uploadRow(item) {
  const bar = h('progress', { max: 100, value: 0, 'aria-label': item.file.name });
  const status = h('span', { class: 'up-status' });
  const li = h('li', { class: 'upload' },
    h('span', { class: 'up-name', text: item.file.name }),
    h('span', { class: 'up-size muted', text: fmtBytes(item.file.size) }),
    bar, status);
  item.el = { li, bar, status };
  paintUpload(item);
  return li;
}

function paintUpload(item) {
  if (!item.el) return;
  const { li, bar, status } = item.el;
  bar.value = Math.round(item.loaded * 100);
  li.dataset.status = item.status;
  status.className = `up-status ${item.status}`;
  status.textContent = {
    waiting: t('doc.waiting'),
    uploading: t('doc.uploading', { pct: Math.round(item.loaded * 100) }),
    done: t('doc.uploaded'),
    duplicate: t('doc.duplicate'),
    error: t('doc.rejected', { message: item.message }),
  }[item.status];
  if (item.status === 'error') status.setAttribute('role', 'alert');
}

function statusBadge(doc) {
  const wrap = h('div', { class: 'status-cell' });
  wrap.append(h('span', { class: `badge ${doc.status}`, text: t(`status.${doc.status}`) }));
  if (doc.status === 'embedding' && doc.progress && doc.progress.chunks_total) {
    const { chunks_done: done, chunks_total: total } = doc.progress;
    wrap.append(h('progress', { max: total, value: done, 'aria-label': t('status.progress', { done, total }) }),
      h('span', { class: 'muted small', text: `${done}/${total}` }));
  }
  if (doc.status === 'failed' && doc.error) wrap.append(h('p', { class: 'doc-error', text: doc.error }));
  return wrap;
}

async function kbView(view, kbId, isCurrent) {
  let kb;
  try {
    kb = await api(`/knowledge-bases/${enc(kbId)}`);
  } catch (e) {
    if (e.status === 404) {
      view.append(h('p', { class: 'notice error', text: t('kb.notFound') }),
        h('a', { href: '#/kbs', text: t('nav.kbs') }));
      return;
    }
    throw e;
  }
  if (!kbCache.model) await loadKbs().catch(() => {});
  if (!isCurrent()) return;
  const base = `/knowledge-bases/${enc(kb.id)}`;

  // Drop zone and file picker.
  const input = h('input', { type: 'file', multiple: true, class: 'sr-only', id: 'file-input', tabindex: -1, 'aria-hidden': 'true' });
  input.addEventListener('change', () => {
    if (input.files.length) queueFiles(kb.id, [...input.files]);
    input.value = '';
    paintUploads();
  });
  const pick = h('button', { type: 'button', class: 'secondary', text: t('doc.pick'), 'aria-label': t('upload.choose'), onclick: () => input.click() });
  const drop = h('div', { class: 'dropzone admin-only', id: 'dropzone' },
    h('span', { text: t('doc.drop') }), ' ', pick, input);
  let depth = 0;
  drop.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; drop.classList.add('over'); });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; });
  drop.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; drop.classList.remove('over'); } });
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    depth = 0;
    drop.classList.remove('over');
    const files = [...(e.dataTransfer?.files || [])];
    if (files.length) { queueFiles(kb.id, files); paintUploads(); }
  });

  const uploadList = h('ul', { class: 'uploads', 'aria-label': t('doc.uploads') });
  const clearBtn = h('button', {
    type: 'button', class: 'link small', text: t('doc.clearUploads'),
    onclick: () => {
      for (let i = uploads.length - 1; i >= 0; i--) {
        if (uploads[i].kbId === kb.id && !['waiting', 'uploading'].includes(uploads[i].status)) uploads.splice(i, 1);
      }
      paintUploads();
    },
  });
  const uploadSection = h('section', { class: 'upload-section', 'aria-label': t('doc.uploads') },
    h('div', { class: 'row between' }, h('h2', { class: 'h3', text: t('doc.uploads') }), clearBtn), uploadList);
  function paintUploads() {
    const mine = uploads.filter((u) => u.kbId === kb.id);
    uploadSection.hidden = !mine.length;
    uploadList.replaceChildren(...mine.map(uploadRow));
  }

  const desc = h('p', { class: 'desc', text: kb.description, hidden: !kb.description });
  const count = h('span', { class: 'muted' });
  const tbody = h('tbody');
  const table = h('table', { class: 'docs' },
    h('thead', null, h('tr', null,
      ...['doc.name', 'doc.status', 'doc.chunks', 'doc.size', 'doc.date', 'doc.actions'].map((k) => h('th', { scope: 'col', text: t(k) })))),
    tbody);
  const empty = h('p', { class: 'empty', text: t('doc.empty') });
  const docsError = h('div');

  view.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/kbs', text: `← ${t('nav.kbs')}` })),
    h('div', { class: 'page-head' },
      h('h1', { text: kb.name }),
      h('p', { class: 'meta' }, t('kb.chunking', { size: kb.chunk_size, overlap: kb.chunk_overlap }),
        kbCache.model ? ` · ${t('kb.model')}: ${kbCache.model}` : '')),
    desc,
    kbSettings(kb, (next) => {
      desc.textContent = next.description;
      desc.hidden = !next.description;
    }),
    drop,
    uploadSection,
    sourcesSection(kb, () => schedule(0)),
    h('section', { 'aria-labelledby': 'docs-title' },
      h('div', { class: 'row between' }, h('h2', { id: 'docs-title', text: t('doc.title') }), count),
      docsError, table, empty));
  paintUploads();

  const rows = new Map(); // doc id -> {tr, key, doc}
  let timer = null;
  let stopped = false;
  onLeave(() => { stopped = true; clearTimeout(timer); docListeners.delete(onUpload); });
  function onUpload(id) { if (id === kb.id) schedule(0); }
  docListeners.add(onUpload);

  function docRow(doc) {
    const cells = {
      name: h('td', { class: 'doc-name', 'data-label': t('doc.name') }),
      status: h('td', { 'data-label': t('doc.status') }),
      chunks: h('td', { class: 'num', 'data-label': t('doc.chunks') }),
      size: h('td', { class: 'num', 'data-label': t('doc.size') }),
      date: h('td', { 'data-label': t('doc.date') }),
      actions: h('td', { class: 'actions', 'data-label': t('doc.actions') }),
    };
    const reparse = h('button', {
      type: 'button', class: 'secondary small admin-only', text: t('doc.reparse'),
      onclick: async () => {
        try {
          await api(`${base}/documents/${enc(doc.id)}/reparse`, { method: 'POST' });
          toast(t('doc.reparsing', { name: doc.name }));
          schedule(0);
        } catch (e) { toast(e.message, 'error'); }
      },
    });
    const del = h('button', {
      type: 'button', class: 'danger small admin-only', text: t('common.delete'),
      'aria-label': `${t('common.delete')} ${doc.name}`,
      onclick: async () => {
        if (!await confirmDialog(t('doc.confirmDelete', { name: doc.name }))) return;
        try {
          await api(`${base}/documents/${enc(doc.id)}`, { method: 'DELETE' });
          toast(t('doc.deleted', { name: doc.name }));
          schedule(0);
        } catch (e) { toast(e.message, 'error'); }
      },
    });
    cells.actions.append(h('div', { class: 'actions-wrap' },
      h('a', { class: 'button secondary small', href: `#/kb/${enc(kb.id)}/doc/${enc(doc.id)}`, text: t('doc.viewChunks') }),
      h('a', { class: 'button secondary small', href: `/api/v1${base}/documents/${enc(doc.id)}/file`, download: doc.name, text: t('doc.download') }),
      reparse, del));
    const tr = h('tr', { 'data-id': doc.id }, ...Object.values(cells));
    return { tr, cells, reparse, key: '', doc };
  }

  function paintRow(row, doc) {
    row.doc = doc;
    const key = JSON.stringify([doc.status, doc.error, doc.chunk_count, doc.progress, doc.name, doc.size_bytes, doc.source_id]);
    if (key === row.key) return;
    row.key = key;
    row.tr.dataset.status = doc.status;
    row.cells.name.replaceChildren(h('span', { class: 'name', text: doc.name }),
      doc.format ? h('span', { class: 'fmt', text: doc.format }) : null,
      doc.source_id ? h('span', { class: 'fmt from-source', title: t('src.fromSourceTitle'), text: t('src.fromSource') }) : null);
    row.cells.status.replaceChildren(statusBadge(doc));
    row.cells.chunks.textContent = String(doc.chunk_count);
    row.cells.size.textContent = fmtBytes(doc.size_bytes);
    row.cells.date.textContent = fmtDate(doc.created_at);
    row.reparse.disabled = BUSY.has(doc.status);
  }

  async function refresh() {
    timer = null;
    let data;
    try {
      data = await api(`${base}/documents?limit=1000`);
      docsError.replaceChildren();
    } catch (e) {
      if (stopped) return;
      docsError.replaceChildren(errorBox(e));
      timer = setTimeout(refresh, 3000);
      return;
    }
    if (stopped) return;
    const docs = data.documents || [];
    const seen = new Set();
    docs.forEach((doc, i) => {
      seen.add(doc.id);
      let row = rows.get(doc.id);
      if (!row) { row = docRow(doc); rows.set(doc.id, row); }
      paintRow(row, doc);
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
    });
    for (const [id, row] of rows) if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
    count.textContent = t('doc.total', { n: data.total ?? docs.length });
    table.hidden = !docs.length;
    empty.hidden = !!docs.length;
    const busy = docs.some((d) => BUSY.has(d.status)) || uploads.some((u) => u.kbId === kb.id && ['waiting', 'uploading'].includes(u.status));
    if (busy) schedule(1000);
  }
  function schedule(ms) {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, ms);
  }
  table.hidden = true;
  empty.hidden = true;
  await refresh();
}

/** The search defaults of a knowledge base as an object (the API gives JSON). */
function kbRetrieval(kb) {
  let r = kb.retrieval;
  if (typeof r === 'string') { try { r = JSON.parse(r); } catch { r = {}; } }
  return r && typeof r === 'object' ? r : {};
}

const settingsOpen = new Set(); // knowledge bases whose settings are unfolded

/** The collapsible settings of a knowledge base: description, system prompt, search defaults. */
function kbSettings(kb, onSaved) {
  const err = h('div', { class: 'form-error', 'aria-live': 'polite' });
  const descInput = h('textarea', { id: 'kbs-desc', name: 'description', rows: 2, maxlength: 2000, value: kb.description || '' });
  const prompt = h('textarea', {
    id: 'kbs-prompt', name: 'system_prompt', rows: 6, maxlength: 8000, value: kb.system_prompt || '',
    placeholder: t('kb.systemPromptPlaceholder'), 'aria-describedby': 'kbs-prompt-hint',
  });
  const options = optionFields('kbs', kbRetrieval(kb));
  const save = h('button', { type: 'submit', text: t('kb.save') });
  const form = h('form', { class: 'form' },
    h('div', { class: 'field' }, h('label', { for: 'kbs-desc', text: t('kb.description') }), descInput),
    h('div', { class: 'field' }, h('label', { for: 'kbs-prompt', text: t('kb.systemPrompt') }), prompt,
      h('p', { class: 'hint', id: 'kbs-prompt-hint', text: t('kb.systemPromptHint') })),
    h('fieldset', null, h('legend', { text: t('kb.retrievalDefaults') }),
      h('p', { class: 'hint', text: t('kb.retrievalHint') }), options.el),
    err,
    h('div', { class: 'row end' }, save));
  const details = h('details', { class: 'card settings admin-only', open: settingsOpen.has(kb.id) },
    h('summary', { text: t('kb.settings') }), form);
  details.addEventListener('toggle', () => {
    if (details.open) settingsOpen.add(kb.id); else settingsOpen.delete(kb.id);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.replaceChildren();
    // Defaults this form has no selector for (set through the API) are kept.
    const retrieval = Object.fromEntries(Object.entries(kbRetrieval(kb)).filter(([k]) => !OPTION_KEYS.includes(k)));
    Object.assign(retrieval, options.read());
    save.disabled = true;
    try {
      const next = await api(`/knowledge-bases/${enc(kb.id)}`, {
        method: 'PATCH',
        body: { description: descInput.value, system_prompt: prompt.value, retrieval },
      });
      Object.assign(kb, next);
      descInput.value = next.description || '';
      prompt.value = next.system_prompt || '';
      options.set(kbRetrieval(next));
      onSaved(next);
      toast(t('kb.saved', { name: next.name }));
    } catch (ex) {
      err.replaceChildren(h('p', { class: 'notice error', role: 'alert', text: ex.message }));
    } finally {
      save.disabled = false;
    }
  });
  return details;
}

// ---------- sources: folders and URL lists kept in sync ----------

const ACTIVE_RUN = new Set(['queued', 'running']);
const RUN_COUNTS = ['added', 'updated', 'deleted', 'renamed', 'unchanged', 'failed'];
const historyOpen = new Set(); // sources whose run history is unfolded
const sourceFormOpen = new Set(); // knowledge bases whose "Add source" form is unfolded

/** Globs separated by commas or newlines; a comma inside {a,b} belongs to its glob. */
function splitGlobs(text) {
  const out = [];
  let cur = '';
  let depth = 0;
  for (const ch of String(text)) {
    if (ch === '{') depth++;
    else if (ch === '}') depth = Math.max(0, depth - 1);
    if (ch === '\n' || ch === '\r' || (ch === ',' && depth === 0)) { out.push(cur); cur = ''; } else cur += ch;
  }
  out.push(cur);
  return out.map((g) => g.trim()).filter(Boolean);
}

function fmtDuration(ms) {
  if (ms == null) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A time like 2026-11-28T12:00:00+08:00[Asia/Shanghai], shown in `timeZone`. */
function fmtDateIn(s, timeZone) {
  const d = new Date(String(s || '').replace(/\[.*\]$/, ''));
  if (Number.isNaN(d.getTime())) return s || '';
  const opts = { dateStyle: 'medium', timeStyle: 'short' };
  const locale = getLang() === 'zh' ? 'zh-CN' : 'en';
  try { return new Intl.DateTimeFormat(locale, { ...opts, timeZone }).format(d); } catch { return fmtDate(d); }
}

function browserTimeZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
}

function sourceName(src) {
  return src.kind === 'urls' ? t('src.urlCount', { n: (src.urls || []).length }) : src.path || '';
}

/** The progress of an active run: a bar (no value = indeterminate) and what it is doing. */
function runProgress(run) {
  let value;
  let max;
  let label;
  if (run.status === 'queued') {
    label = t('run.queuedWait');
  } else if (run.phase === 'ingesting') {
    const pending = run.docs_pending || 0;
    max = Math.max(pending, (run.added || 0) + (run.updated || 0));
    value = max - pending;
    label = t('run.ingesting', { done: value, total: max });
  } else if (run.files_total != null) {
    max = run.files_total;
    value = Math.min(run.files_scanned || 0, max);
    label = t('run.scanning', { done: value, total: max });
  } else {
    label = t('run.listing');
  }
  // Files found early are queued for ingest while the scan goes on.
  const queued = run.phase !== 'ingesting' && run.docs_pending ? t('run.queuedDocs', { n: run.docs_pending }) : null;
  return h('div', { class: 'run-progress' },
    h('progress', max ? { max, value, 'aria-label': label } : { 'aria-label': label }),
    h('span', { class: 'muted small', text: label }),
    queued ? h('span', { class: 'muted small', text: `· ${queued}` }) : null);
}

function runBadge(run) {
  return h('span', { class: `badge run ${run.status}`, text: t(`run.status.${run.status}`) });
}

function runCounts(run) {
  return h('ul', { class: 'run-counts' }, RUN_COUNTS.map((k) => h('li', {
    class: `${k}${run[k] ? '' : ' zero'}`, 'data-k': k,
  }, h('span', { class: 'k', text: t(`run.${k}`) }), ' ', h('span', { class: 'v', text: String(run[k] ?? 0) }))));
}

function runErrors(run) {
  const errs = run.errors || [];
  if (!errs.length && !run.error) return null;
  return h('div', { class: 'run-errors' },
    run.error ? h('p', { class: 'doc-error', text: run.error }) : null,
    errs.length ? h('ul', { 'aria-label': t('run.errors') }, errs.map((e) => h('li', null,
      h('span', { class: 'err-path', text: e.path }), ': ', h('span', { text: e.error })))) : null);
}

function runsTable(runs) {
  if (!runs.length) return h('p', { class: 'muted small', text: t('run.none') });
  const cols = ['run.started', 'run.trigger', 'run.status', ...RUN_COUNTS.map((k) => `run.${k}`), 'run.duration'];
  const tbody = h('tbody');
  for (const run of runs) {
    tbody.append(h('tr', { 'data-run': run.id, 'data-status': run.status },
      h('td', { class: 'nowrap', text: fmtDate(run.started_at) }),
      h('td', { text: t(`run.trigger.${run.trigger}`) }),
      h('td', null, runBadge(run)),
      RUN_COUNTS.map((k) => h('td', { class: `num${run[k] ? '' : ' zero'}`, 'data-k': k, 'data-label': t(`run.${k}`), text: String(run[k] ?? 0) })),
      h('td', { class: 'num duration', 'data-label': t('run.duration'), text: run.duration_ms != null ? fmtDuration(run.duration_ms) : '' })));
    const errs = runErrors(run);
    if (errs) tbody.append(h('tr', { class: 'errors-row', 'data-run-errors': run.id }, h('td', { colspan: cols.length }, errs)));
  }
  return h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': t('src.history') },
    h('table', { class: 'runs' }, h('thead', null, h('tr', null, cols.map((k) => h('th', { scope: 'col', text: t(k) })))), tbody));
}

/** The sources of a knowledge base: their state, runs and history, and a form to add one. */
function sourcesSection(kb, onDocsChanged) {
  const base = `/knowledge-bases/${enc(kb.id)}/sources`;
  const list = h('ul', { class: 'sources', 'aria-label': t('src.title') });
  const empty = h('p', { class: 'muted small', text: t('src.empty'), hidden: true });
  const listError = h('div');
  const title = h('h2', { id: 'src-title', tabindex: -1, text: t('src.title') });
  const cards = new Map(); // source id -> card
  let timer = null;
  let stopped = false;
  let seq = 0;
  onLeave(() => { stopped = true; clearTimeout(timer); });

  function schedule(ms) {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, ms);
  }

  async function refresh() {
    clearTimeout(timer); // when called directly, a pending poll is this one
    timer = null;
    if (stopped) return;
    const my = ++seq;
    let data;
    try {
      data = await api(base);
      listError.replaceChildren();
    } catch (e) {
      if (stopped || my !== seq) return;
      listError.replaceChildren(errorBox(e));
      schedule(5000);
      return;
    }
    if (stopped || my !== seq) return;
    const sources = data.sources || [];
    const seen = new Set();
    sources.forEach((src, i) => {
      seen.add(src.id);
      let card = cards.get(src.id);
      if (!card) { card = sourceCard(src); cards.set(src.id, card); }
      paintCard(card, src);
      if (list.children[i] !== card.li) list.insertBefore(card.li, list.children[i] || null);
    });
    for (const [id, card] of cards) if (!seen.has(id)) { card.li.remove(); cards.delete(id); }
    empty.hidden = !!sources.length;
    if (sources.some((s) => s.last_run && ACTIVE_RUN.has(s.last_run.status))) schedule(1000);
    else if (sources.some((s) => s.enabled && s.schedule)) schedule(15000); // scheduled runs show up
  }

  function sourceCard(src) {
    const card = { src, headKey: null, runKey: null, histSeq: 0 };
    const label = () => sourceName(card.src);
    card.head = h('div', { class: 'source-head' });
    card.meta = h('div', { class: 'source-meta' });
    card.last = h('div', { class: 'last-run' });
    card.msg = h('div', { class: 'source-msg', 'aria-live': 'polite' });
    const say = (e) => card.msg.replaceChildren(h('p', { class: 'notice error', role: 'alert', text: e.message }));
    card.run = h('button', {
      type: 'button', class: 'small admin-only', text: t('src.runNow'),
      onclick: async () => {
        if (card.busy) return;
        card.busy = true;
        card.msg.replaceChildren();
        try {
          const run = await api(`${base}/${enc(card.src.id)}/run`, { method: 'POST' });
          paintCard(card, { ...card.src, last_run: run });
        } catch (e) { say(e); } finally { card.busy = false; }
        schedule(0); // after a 409 too: that shows the active run
      },
    });
    card.cancel = h('button', {
      type: 'button', class: 'danger small admin-only', text: t('src.cancelRun'), hidden: true,
      onclick: async () => {
        const run = card.src.last_run;
        if (!run || card.busy) return;
        card.busy = true;
        card.msg.replaceChildren();
        try {
          const next = await api(`${base}/${enc(card.src.id)}/runs/${enc(run.id)}/cancel`, { method: 'POST' });
          paintCard(card, { ...card.src, last_run: next });
        } catch (e) { say(e); } finally { card.busy = false; }
        schedule(0);
      },
    });
    card.toggle = h('button', {
      type: 'button', class: 'secondary small admin-only',
      onclick: async () => {
        if (card.busy) return;
        card.busy = true;
        card.msg.replaceChildren();
        try {
          const next = await api(`${base}/${enc(card.src.id)}`, { method: 'PATCH', body: { enabled: !card.src.enabled } });
          paintCard(card, { ...card.src, ...next });
        } catch (e) { say(e); } finally { card.busy = false; }
        schedule(0);
      },
    });
    card.historyBox = h('div', { class: 'history', id: `history-${src.id}`, hidden: true });
    card.historyBtn = h('button', {
      type: 'button', class: 'secondary small', text: t('src.history'), 'aria-controls': `history-${src.id}`, 'aria-expanded': 'false',
      onclick: () => {
        if (historyOpen.has(card.src.id)) historyOpen.delete(card.src.id); else historyOpen.add(card.src.id);
        paintHistory(card, true);
      },
    });
    card.del = h('button', {
      type: 'button', class: 'danger small admin-only', text: t('common.delete'),
      onclick: async () => {
        if (!await confirmDialog(t('src.confirmDelete', { name: label() }))) return;
        try {
          await api(`${base}/${enc(card.src.id)}`, { method: 'DELETE' });
          toast(t('src.deleted', { name: label() }));
          historyOpen.delete(card.src.id);
          card.li.remove();
          title.focus(); // the button that had focus is gone
          onDocsChanged();
          schedule(0);
        } catch (e) { say(e); }
      },
    });
    card.li = h('li', { class: 'source card', 'data-id': src.id },
      card.head, card.meta, card.last, card.msg,
      h('div', { class: 'row source-actions' }, card.run, card.cancel, card.toggle, card.historyBtn, card.del),
      card.historyBox);
    return card;
  }

  function paintCard(card, src) {
    card.src = src;
    const name = sourceName(src);
    const run = src.last_run || null;
    const active = !!run && ACTIVE_RUN.has(run.status);
    card.li.dataset.enabled = String(!!src.enabled);
    card.li.dataset.status = run ? run.status : 'none';

    const headKey = JSON.stringify([src.kind, src.path, src.urls, src.include, src.exclude, src.schedule,
      src.timezone, src.enabled, src.next_run_at, getLang()]);
    if (headKey !== card.headKey) {
      card.headKey = headKey;
      fill(card.head,
        h('span', { class: `badge kind ${src.kind}`, text: t(`src.kind.${src.kind}`) }),
        src.kind === 'urls' ? h('span', { class: 'source-name', text: name }) : h('code', { class: 'source-name', text: name }),
        h('span', { class: `badge ${src.enabled ? 'on' : 'off'}`, text: src.enabled ? t('src.enabled') : t('src.disabled') }));
      const globs = (list) => (list && list.length
        ? list.map((g, i) => [i ? ' ' : null, h('code', { text: g })]) : h('span', { class: 'muted', text: t('src.all') }));
      fill(card.meta,
        src.kind === 'urls' ? h('details', { class: 'url-list' },
          h('summary', { text: t('src.showUrls') }),
          h('ul', null, (src.urls || []).map((u) => h('li', { text: u })))) : null,
        src.kind === 'urls' ? null : h('p', { class: 'meta' }, h('span', { class: 'k', text: `${t('src.include')}: ` }), globs(src.include),
          h('span', { class: 'sep', text: ' · ' }),
          h('span', { class: 'k', text: `${t('src.exclude')}: ` }), (src.exclude || []).length ? globs(src.exclude) : h('span', { class: 'muted', text: t('src.noneExcluded') })),
        h('p', { class: 'meta schedule' }, h('span', { class: 'k', text: `${t('src.schedule')}: ` }),
          src.schedule ? [h('code', { class: 'cron', text: src.schedule }), ' ', h('span', { class: 'tz', text: `(${src.timezone})` })]
            : h('span', { text: t('src.manual') }),
          src.next_run_at ? [h('span', { class: 'sep', text: ' · ' }),
            h('span', { class: 'next-run', text: t('src.nextRun', { date: fmtDateIn(src.next_run_at, src.timezone) }) })] : null));
      card.toggle.textContent = src.enabled ? t('src.disable') : t('src.enable');
      card.toggle.setAttribute('aria-label', `${src.enabled ? t('src.disable') : t('src.enable')} ${name}`);
      card.run.setAttribute('aria-label', `${t('src.runNow')} ${name}`);
      card.cancel.setAttribute('aria-label', `${t('src.cancelRun')} ${name}`);
      card.historyBtn.setAttribute('aria-label', `${t('src.history')} ${name}`);
      card.del.setAttribute('aria-label', `${t('common.delete')} ${name}`);
    }

    const runKey = JSON.stringify([run, getLang()]);
    if (runKey !== card.runKey) {
      const before = card.runKey === null ? undefined : card.lastRun;
      card.runKey = runKey;
      card.lastRun = run;
      card.last.dataset.status = run ? run.status : 'none';
      card.last.dataset.run = run ? run.id : '';
      fill(card.last, run
        ? [h('div', { class: 'run-line' },
          h('span', { class: 'k', text: `${t('src.lastRun')}:` }), runBadge(run),
          h('span', { class: 'muted small', text: `${t(`run.trigger.${run.trigger}`)} · ${fmtDate(run.started_at)}` }),
          run.duration_ms != null ? h('span', { class: 'muted small duration', text: t('run.took', { d: fmtDuration(run.duration_ms) }) }) : null),
        active ? runProgress(run) : null,
        runCounts(run),
        run.error ? h('p', { class: 'doc-error', text: run.error }) : null,
        (run.errors || []).length ? h('p', { class: 'doc-error', text: t('run.fileErrors', { n: run.errors.length }) }) : null]
        : h('p', { class: 'muted small', text: t('src.neverRun') }));
      if (before !== undefined) {
        // Documents change while a run adds, updates or deletes them, and when it ends.
        const counts = (r) => (r ? JSON.stringify([r.id, r.status, r.docs_pending, ...RUN_COUNTS.map((k) => r[k])]) : '');
        if (counts(before) !== counts(run)) onDocsChanged();
        if (before && ACTIVE_RUN.has(before.status) && run && run.id === before.id && !active) {
          card.msg.replaceChildren(); // a 409 about the run that just ended
          toast(t('src.runFinished', { name, status: t(`run.status.${run.status}`) }), run.status === 'failed' ? 'error' : 'info');
        }
        if (historyOpen.has(src.id)) paintHistory(card, false);
      }
    }

    // Run now and Cancel take each other's place; keyboard focus follows.
    const focusRun = document.activeElement === card.run;
    const focusCancel = document.activeElement === card.cancel;
    card.run.hidden = active;
    card.cancel.hidden = !active;
    if (active && focusRun) card.cancel.focus();
    if (!active && focusCancel) card.run.focus();
    if (card.historyBox.hidden === historyOpen.has(src.id)) paintHistory(card, true);
  }

  /** Shows or hides the run history, fetching the runs when it is open. */
  async function paintHistory(card, toggled) {
    const open = historyOpen.has(card.src.id);
    card.historyBtn.setAttribute('aria-expanded', String(open));
    card.historyBox.hidden = !open;
    if (!open) return;
    if (toggled && !card.historyBox.childElementCount) card.historyBox.append(h('p', { class: 'muted small', text: t('common.loading') }));
    const my = ++card.histSeq;
    try {
      const data = await api(`${base}/${enc(card.src.id)}/runs`);
      if (stopped || my !== card.histSeq) return;
      card.historyBox.replaceChildren(h('h3', { class: 'h3', text: t('src.history') }), runsTable(data.runs || []));
    } catch (e) {
      if (!stopped && my === card.histSeq) card.historyBox.replaceChildren(errorBox(e));
    }
  }

  const form = sourceForm(kb, base, async (src) => {
    await refresh();
    cards.get(src.id)?.run.focus();
  });
  const section = h('section', { class: 'sources-section', 'aria-labelledby': 'src-title' },
    title,
    h('p', { class: 'hint', text: t('src.intro') }),
    listError, list, empty, form);
  refresh();
  return section;
}

/** The collapsible "Add source" form. */
function sourceForm(kb, base, onCreated) {
  const err = h('div', { class: 'form-error', 'aria-live': 'polite' });
  const field = (id, label, input, hint) => {
    if (hint) input.setAttribute('aria-describedby', `${id}-hint`);
    return h('div', { class: 'field' }, h('label', { for: id, text: label }), input,
      hint ? h('p', { class: 'hint', id: `${id}-hint`, text: hint }) : null);
  };
  const kind = h('select', { id: 'src-kind', name: 'kind' },
    h('option', { value: 'folder', text: t('src.kind.folder') }),
    h('option', { value: 'urls', text: t('src.kind.urls') }));
  const path = h('input', { id: 'src-path', name: 'path', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: '/srv/docs' });
  const urls = h('textarea', { id: 'src-urls', name: 'urls', rows: 3, spellcheck: 'false', placeholder: 'https://example.com/handbook.html' });
  const include = h('textarea', { id: 'src-include', name: 'include', rows: 1, spellcheck: 'false', placeholder: '**/*.md, **/*.pdf' });
  const exclude = h('textarea', { id: 'src-exclude', name: 'exclude', rows: 1, spellcheck: 'false', placeholder: 'drafts/**' });
  const cron = h('input', { id: 'src-schedule', name: 'schedule', autocomplete: 'off', spellcheck: 'false', placeholder: '0 */6 * * *' });
  const tz = h('input', { id: 'src-tz', name: 'timezone', autocomplete: 'off', spellcheck: 'false', value: browserTimeZone(), list: 'src-tz-list' });
  const zones = h('datalist', { id: 'src-tz-list' });
  try { zones.append(...Intl.supportedValuesOf('timeZone').map((z) => h('option', { value: z }))); } catch { /* older browsers */ }
  const enabled = h('input', { id: 'src-enabled', name: 'enabled', type: 'checkbox', checked: true });
  const pathField = field('src-path', t('src.path'), path, t('src.pathHint'));
  const urlsField = field('src-urls', t('src.urls'), urls, t('src.urlsHint'));
  const globsField = h('div', { class: 'row fields' },
    field('src-include', t('src.include'), include), field('src-exclude', t('src.exclude'), exclude));
  const globsHint = h('p', { class: 'hint', text: t('src.globHint') });
  const submit = h('button', { type: 'submit', text: t('src.create') });
  const syncKind = () => {
    const folder = kind.value === 'folder';
    pathField.hidden = !folder;
    path.required = folder;
    urlsField.hidden = folder;
    urls.required = !folder;
    globsField.hidden = !folder;
    globsHint.hidden = !folder;
  };
  kind.addEventListener('change', syncKind);
  const form = h('form', { class: 'form source-form' },
    field('src-kind', t('src.kind'), kind),
    pathField, urlsField, globsField, globsHint,
    h('div', { class: 'row fields' },
      field('src-schedule', t('src.schedule'), cron, t('src.scheduleHint')),
      field('src-tz', t('src.timezone'), tz, t('src.timezoneHint'))),
    zones,
    h('div', { class: 'field inline check-field' }, enabled, h('label', { for: 'src-enabled', text: t('src.enabledLabel') })),
    err,
    h('div', { class: 'row end' }, submit));
  syncKind();
  const details = h('details', { class: 'card add-source admin-only', open: sourceFormOpen.has(kb.id) },
    h('summary', { text: t('src.add') }), form);
  details.addEventListener('toggle', () => {
    if (details.open) sourceFormOpen.add(kb.id); else sourceFormOpen.delete(kb.id);
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.replaceChildren();
    const body = { kind: kind.value, enabled: enabled.checked };
    if (kind.value === 'folder') {
      body.path = path.value.trim();
      body.include = splitGlobs(include.value);
      body.exclude = splitGlobs(exclude.value);
    } else {
      body.urls = urls.value.split(/\s*\n\s*/).map((u) => u.trim()).filter(Boolean);
    }
    if (cron.value.trim()) body.schedule = cron.value.trim().replace(/\s+/g, ' ');
    if (tz.value.trim()) body.timezone = tz.value.trim();
    submit.disabled = true;
    try {
      const src = await api(base, { method: 'POST', body });
      toast(t('src.created', { name: sourceName(src) }));
      for (const input of [path, urls, include, exclude, cron]) input.value = '';
      details.open = false;
      await onCreated(src);
    } catch (ex) {
      err.replaceChildren(h('p', { class: 'notice error', role: 'alert', text: ex.message }));
    } finally {
      submit.disabled = false;
    }
  });
  return details;
}

// ---------- chunk viewer ----------

const chunkFilters = new Map(); // doc id -> filter text, kept across re-renders

async function chunksView(view, kbId, docId, isCurrent) {
  const base = `/knowledge-bases/${enc(kbId)}/documents/${enc(docId)}`;
  const [kb, doc, data] = await Promise.all([
    api(`/knowledge-bases/${enc(kbId)}`), api(base), api(`${base}/chunks?limit=10000`),
  ]);
  if (!isCurrent()) return;
  const chunks = data.chunks || [];
  const filter = h('input', {
    id: 'chunk-filter', type: 'search', placeholder: t('chunk.filterPlaceholder'),
    value: chunkFilters.get(docId) || '', autocomplete: 'off',
  });
  const countLine = h('p', { class: 'muted', 'aria-live': 'polite' });
  const list = h('ol', { class: 'chunks' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true });
  const PAGE = 200;
  let limit = PAGE;

  function chunkItem(c, terms) {
    const heading = c.heading ? c.heading.split(' > ') : [];
    return h('li', { class: 'chunk card' },
      h('div', { class: 'chunk-head' },
        h('span', { class: 'ordinal', text: `#${c.ordinal + 1}` }),
        c.page != null ? h('span', { class: 'badge page', text: t('chunk.page', { n: c.page }) }) : null,
        heading.length ? h('span', { class: 'heading-path' },
          heading.map((part, i) => [i ? h('span', { class: 'sep', 'aria-hidden': 'true', text: ' › ' }) : null,
            h('span', null, highlighted(part, terms))])) : null,
        h('span', { class: 'muted small tokens', text: t('chunk.tokens', { n: c.token_count }) })),
      h('div', { class: 'chunk-text' }, highlighted(c.text, terms)));
  }

  function paint() {
    const q = filter.value.trim().toLowerCase();
    chunkFilters.set(docId, filter.value);
    const terms = q ? q.split(/\s+/).filter(Boolean) : [];
    const matched = terms.length
      ? chunks.filter((c) => {
        const hay = `${c.heading}\n${c.text}`.toLowerCase();
        return terms.every((term) => hay.includes(term));
      })
      : chunks;
    countLine.textContent = t('chunk.count', { shown: matched.length, total: chunks.length });
    const shown = matched.slice(0, limit);
    list.replaceChildren(...shown.map((c) => chunkItem(c, terms)));
    more.hidden = matched.length <= limit;
    more.textContent = `+${Math.min(PAGE, matched.length - limit)}`;
    if (!matched.length) list.append(h('li', { class: 'empty', text: chunks.length ? t('chunk.none') : t('chunk.notReady') }));
  }
  filter.addEventListener('input', () => { limit = PAGE; paint(); });
  more.addEventListener('click', () => { limit += PAGE; paint(); });

  view.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/kbs', text: t('nav.kbs') }), ' / ',
      h('a', { href: `#/kb/${enc(kb.id)}`, text: kb.name })),
    h('div', { class: 'page-head' },
      h('h1', { text: t('chunk.title', { name: doc.name }) }),
      h('div', { class: 'meta row' }, statusBadge(doc), h('span', { text: fmtBytes(doc.size_bytes) }),
        h('a', { href: `/api/v1${base}/file`, download: doc.name, text: t('doc.download') }))),
    h('div', { class: 'field' }, h('label', { for: 'chunk-filter', text: t('chunk.filter') }), filter),
    countLine, list, more);
  paint();
}

// ---------- retrieval options ----------

const OPTION_SELECTS = [
  ['mode', ['hybrid', 'dense', 'sparse']],
  ['fusion', ['rrf', 'dbsf']],
  ['rerank', ['none', 'weighted', 'cross_encoder']],
];
const OPTION_NUMBERS = [['vector_weight', 0, 1], ['similarity_threshold', -1, 1]];
const OPTION_KEYS = [...OPTION_SELECTS, ...OPTION_NUMBERS].map(([k]) => k);

/**
 * Selectors for search options, each with "Default" (not sent). `read()` gives only the
 * options set away from the default.
 */
function optionFields(prefix, values = {}) {
  const inputs = {};
  const fields = [];
  const field = (key, input, hint) => h('div', { class: 'field' },
    h('label', { for: input.id, text: t(`opt.${key}`) }), input,
    hint ? h('p', { class: 'hint', text: hint }) : null);
  for (const [key, choices] of OPTION_SELECTS) {
    const sel = h('select', { id: `${prefix}-${key}`, name: key },
      h('option', { value: '', text: t('opt.default') }),
      choices.map((c) => h('option', { value: c, text: t(`opt.${key}.${c}`) })));
    inputs[key] = sel;
    fields.push(field(key, sel));
  }
  for (const [key, min, max] of OPTION_NUMBERS) {
    const input = h('input', {
      id: `${prefix}-${key}`, name: key, type: 'number', min, max, step: 'any', inputmode: 'decimal',
      placeholder: t('opt.default'), autocomplete: 'off',
    });
    inputs[key] = input;
    fields.push(field(key, input, t(`opt.${key}.hint`)));
  }
  const set = (v) => {
    for (const [key, input] of Object.entries(inputs)) input.value = v?.[key] ?? '';
  };
  set(values);
  return {
    el: h('div', { class: 'opt-grid' }, fields),
    read() {
      const out = {};
      for (const [key, input] of Object.entries(inputs)) {
        const v = input.value.trim();
        if (v === '') continue;
        out[key] = input.type === 'number' ? Number(v) : v;
      }
      return out;
    },
    set,
  };
}

// ---------- retrieval test ----------

const searchState = {
  query: '', kbs: null, topK: 5, options: {}, advancedOpen: false, hits: null, error: null, lastQuery: '',
};

function kbChecklist(name, kbs, selected, onChange) {
  const box = h('div', { class: 'checklist' });
  for (const kb of kbs) {
    const id = `${name}-${kb.id}`;
    const cb = h('input', { type: 'checkbox', id, value: kb.id, checked: selected.has(kb.id) });
    cb.addEventListener('change', () => {
      if (cb.checked) selected.add(kb.id); else selected.delete(kb.id);
      if (onChange) onChange();
    });
    box.append(h('label', { class: 'check', for: id }, cb,
      h('span', null, kb.name, h('span', { class: 'muted small', text: ` (${t('kb.docs', { n: kb.document_count })})` }))));
  }
  return box;
}

/** The terms to mark in a hit: the BM25 terms it matched when they occur in it, else the query's words. */
function hitTerms(hit, query) {
  const matched = (hit.explain?.matched_terms || []).filter((m) => m.length >= 2 || /\p{Script=Han}/u.test(m));
  if (matched.length && termsRe(matched, true).test(`${hit.text}`)) return { terms: matched, stems: true };
  return { terms: queryTerms(query), stems: false };
}

function hitItem(hit, query) {
  const s = hit.scores || {};
  const ex = hit.explain;
  const score = (k, v, rank) => h('span', { class: `score ${k}` },
    h('span', { class: 'k', text: t(`search.${k}`) }),
    rank != null ? [' ', h('span', { class: 'rank', title: t('search.rank', { n: rank }), text: `#${rank}` })] : null,
    ' ', h('span', { class: 'v', text: fmtScore(v) }));
  const rerank = ex?.rerank_score ?? s.rerank;
  const { terms, stems } = hitTerms(hit, query);
  let matched = null;
  if (ex) {
    const list = ex.matched_terms || [];
    matched = h('div', { class: 'matched' },
      h('span', { class: 'k', text: `${t('search.matched')}:` }),
      list.length
        ? h('ul', { class: 'terms', 'aria-label': t('search.matched') }, list.map((term) => h('li', { class: 'term', text: term })))
        : h('span', { class: 'no-terms', text: t('search.noMatched') }));
  }
  return h('li', { class: 'hit card' },
    h('div', { class: 'hit-head' },
      h('a', { class: 'doc', href: `#/kb/${enc(hit.knowledge_base_id)}/doc/${enc(hit.document_id)}`, text: hit.document_name }),
      h('span', { class: 'badge kb', text: hit.knowledge_base }),
      hit.page != null ? h('span', { class: 'badge page', text: t('chunk.page', { n: hit.page }) }) : null,
      hit.heading ? h('span', { class: 'heading-path', text: hit.heading.split(' > ').join(' › ') }) : null),
    h('div', { class: 'scores' },
      score('dense', ex ? ex.dense_score : s.dense, ex?.dense_rank),
      score('sparse', ex ? ex.sparse_score : s.sparse, ex?.sparse_rank),
      score('fused', ex ? ex.fused_score : s.fused),
      rerank != null ? score('rerank', rerank) : null),
    matched,
    h('div', { class: 'chunk-text' }, highlighted(hit.text, terms, stems)));
}

async function searchView(view, isCurrent) {
  const { list } = await loadKbs();
  if (!isCurrent()) return;
  const known = new Set(list.map((k) => k.id));
  if (!searchState.kbs) searchState.kbs = new Set(list.map((k) => k.id));
  for (const id of [...searchState.kbs]) if (!known.has(id)) searchState.kbs.delete(id);

  const query = h('input', { id: 'search-q', type: 'search', required: true, value: searchState.query, placeholder: t('search.placeholder'), autocomplete: 'off' });
  const topK = h('input', { id: 'search-k', type: 'number', min: 1, max: 100, value: searchState.topK, inputmode: 'numeric' });
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', text: t('search.run') });
  const options = optionFields('so', searchState.options);
  const advanced = h('details', { class: 'advanced', open: searchState.advancedOpen },
    h('summary', { text: t('search.advanced') }),
    h('p', { class: 'hint', text: t('search.advancedHint') }), options.el);
  advanced.addEventListener('toggle', () => { searchState.advancedOpen = advanced.open; });
  const form = h('form', { class: 'card form search-form', role: 'search' },
    h('div', { class: 'field' }, h('label', { for: 'search-q', text: t('search.query') }), query),
    h('fieldset', null, h('legend', { text: t('search.kbs') }),
      list.length ? kbChecklist('skb', list, searchState.kbs) : h('p', { class: 'muted', text: t('chat.noKbs') })),
    advanced,
    h('div', { class: 'row end' },
      h('div', { class: 'field inline' }, h('label', { for: 'search-k', text: t('search.topk') }), topK),
      button));
  view.append(h('div', { class: 'page-head' }, h('h1', { text: t('search.title') })), form, results);

  function paint() {
    results.replaceChildren();
    if (searchState.error) { results.append(errorBox(searchState.error)); return; }
    if (!searchState.hits) return;
    if (!searchState.hits.length) { results.append(h('p', { class: 'empty', text: t('search.noHits') })); return; }
    if (searchState.notice) results.append(h('p', { class: 'notice info', role: 'note', text: searchState.notice }));
    results.append(h('p', { class: 'muted', text: t('search.hits', { n: searchState.hits.length }) }),
      h('ol', { class: 'hits' }, searchState.hits.map((hit) => hitItem(hit, searchState.lastQuery))));
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    searchState.query = query.value;
    searchState.topK = Number(topK.value) || 5;
    searchState.options = options.read();
    if (!searchState.kbs.size) {
      searchState.hits = null;
      searchState.error = new Error(t('search.noKb'));
      paint();
      return;
    }
    button.disabled = true;
    results.setAttribute('aria-busy', 'true');
    try {
      const data = await api('/search', {
        method: 'POST',
        body: {
          knowledge_bases: [...searchState.kbs], query: searchState.query, top_k: searchState.topK,
          explain: true, ...searchState.options,
        },
      });
      searchState.hits = data.hits || [];
      searchState.notice = data.dense_used === false ? t('search.bm25Only') : null;
      searchState.error = null;
      searchState.lastQuery = searchState.query;
    } catch (ex) {
      searchState.hits = null;
      searchState.error = ex;
    } finally {
      button.disabled = false;
      results.removeAttribute('aria-busy');
    }
    if (isCurrent()) paint();
  });
  paint();
}

// ---------- chat ----------

const chat = {
  convId: null, // the open conversation, null for a new one
  kbIds: [], // knowledge bases of the open conversation
  messages: [], // {role, content, reasoning, citations, mode, notice, error, streaming, openCite, el}
  selected: new Set(), // knowledge bases picked for a new conversation
  abort: null,
  paint: null, // repaints the open view's message list, when shown
};

/** Parses a Server-Sent Events body from fetch into {event, data} objects. */
async function* sseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      buf = buf.replace(/\r\n?/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (!line || line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          let v = c < 0 ? '' : line.slice(c + 1);
          if (v.startsWith(' ')) v = v.slice(1);
          if (field === 'event') event = v;
          else if (field === 'data') data.push(v);
        }
        if (data.length) yield { event, data: data.join('\n') };
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function errorText(err) {
  const key = { llm_unavailable: 'chat.llmUnavailable', llm_timeout: 'chat.llmTimeout', llm_error: 'chat.llmError' }[err.code];
  return key ? t(key) : t('chat.failed');
}

function citationLabel(c) {
  return [c.document_name, c.page != null ? t('chat.page', { n: c.page }) : null].filter(Boolean).join(' · ');
}

/** The answer text with each [n] that has a citation as a button. */
/**
 * The answer as DOM nodes: a small, safe Markdown subset (paragraphs, headings, bullet and
 * numbered lists, fenced code, `code`, **bold**, *italic*) with `[n]` citations as buttons.
 * Everything is built as elements and text nodes, never as HTML: the model's output is
 * untrusted, and links stay plain text.
 */
function answerNodes(msg) {
  const byN = new Map((msg.citations || []).map((c) => [c.n, c]));
  const cite = (n) => h('button', {
    type: 'button', class: 'cite', text: `[${n}]`, 'data-n': n,
    'aria-label': t('chat.cite', { n }), 'aria-expanded': msg.openCite === n ? 'true' : 'false',
    title: citationLabel(byN.get(n)),
    onclick: () => toggleCite(msg, n),
  });
  const frag = document.createDocumentFragment();
  for (const block of markdownBlocks(msg.content || '')) {
    if (block.kind === 'code') {
      frag.append(h('pre', { class: 'md-code' }, h('code', { text: block.text })));
    } else if (block.kind === 'list') {
      frag.append(h(block.ordered ? 'ol' : 'ul', { class: 'md-list' },
        block.items.map((item) => h('li', null, inlineNodes(item, byN, cite)))));
    } else if (block.kind === 'heading') {
      frag.append(h('p', { class: `md-h md-h${block.level}` }, h('strong', null, inlineNodes(block.text, byN, cite))));
    } else {
      frag.append(h('p', { class: 'md-p' }, inlineNodes(block.text, byN, cite)));
    }
  }
  return frag;
}

/** Inline Markdown: `code`, **bold**, *italic* and citation markers, as nodes. */
function inlineNodes(text, byN, cite) {
  const out = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|(?<![\w*])\*([^*\s][^*]*)\*(?!\w)|\[(\d{1,3})\]/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[4] !== undefined && !byN.has(Number(m[4]))) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h('code', { text: m[1] }));
    else if (m[2] !== undefined) out.push(h('strong', null, inlineNodes(m[2], byN, cite)));
    else if (m[3] !== undefined) out.push(h('em', null, inlineNodes(m[3], byN, cite)));
    else out.push(cite(Number(m[4])));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function toggleCite(msg, n) {
  msg.openCite = msg.openCite === n ? null : n;
  paintMessage(msg);
  const panel = msg.el?.querySelector('.cite-panel');
  if (panel) panel.scrollIntoView({ block: 'nearest' });
}

function messageEl(msg) {
  const el = h('article', { class: `msg ${msg.role}` });
  msg.el = el;
  paintMessage(msg);
  return el;
}

function paintMessage(msg) {
  const el = msg.el;
  if (!el) return;
  const focused = document.activeElement && el.contains(document.activeElement)
    ? { n: document.activeElement.dataset.n, cls: document.activeElement.className } : null;
  const parts = [h('div', { class: 'who', text: msg.role === 'user' ? t('chat.you') : t('chat.assistant') })];
  if (msg.role === 'user') {
    parts.push(h('div', { class: 'text', text: msg.content }));
    el.replaceChildren(...parts);
    return;
  }
  el.setAttribute('aria-busy', msg.streaming ? 'true' : 'false');
  if (msg.reasoning) {
    const details = h('details', { class: 'reasoning', open: msg.reasoningOpen },
      h('summary', { text: msg.streaming && !msg.content ? t('chat.thinking') : t('chat.reasoning') }),
      h('div', { class: 'text', text: msg.reasoning }));
    details.addEventListener('toggle', () => { msg.reasoningOpen = details.open; });
    parts.push(details);
  }
  const answer = h('div', { class: 'text answer' }, answerNodes(msg));
  if (msg.streaming) answer.append(h('span', { class: 'cursor', 'aria-hidden': 'true' }));
  parts.push(answer);
  if (msg.mode === 'extractive') {
    parts.push(h('div', { class: 'notice warn', role: 'note' }, h('strong', { text: t('chat.extractive') }),
      msg.notice ? h('div', { class: 'small', text: msg.notice }) : null));
  } else if (msg.mode === 'no_answer') {
    parts.push(h('div', { class: 'notice info', text: t('chat.noAnswer') }));
  } else if (msg.notice) {
    parts.push(h('div', { class: 'notice info', text: msg.notice }));
  }
  if (msg.error) {
    parts.push(h('div', { class: 'notice error', role: 'alert' }, h('strong', { text: errorText(msg.error) }),
      msg.error.message ? h('div', { class: 'small', text: msg.error.message }) : null));
  }
  const cites = msg.citations || [];
  if (cites.length) {
    const open = cites.find((c) => c.n === msg.openCite);
    if (open) {
      parts.push(h('section', { class: 'cite-panel', 'aria-label': `[${open.n}] ${open.document_name}` },
        h('div', { class: 'row between' },
          h('div', { class: 'cite-title' }, h('strong', { text: `[${open.n}] ` }), h('span', { class: 'cite-doc', text: open.document_name }),
            open.page != null ? h('span', { class: 'badge page', text: t('chunk.page', { n: open.page }) }) : null),
          h('button', { type: 'button', class: 'link small', 'data-n': 'close', text: t('common.close'), onclick: () => toggleCite(msg, open.n) })),
        open.heading ? h('p', { class: 'heading-path', text: open.heading.split(' > ').join(' › ') }) : null,
        h('blockquote', { class: 'chunk-text', text: open.text })));
    }
    parts.push(h('details', { class: 'sources', open: msg.sourcesOpen },
      h('summary', { text: `${t('chat.sources')} (${cites.length})` }),
      h('ol', null, cites.map((c) => h('li', null, h('button', {
        type: 'button', class: 'link source', 'data-n': `s${c.n}`, text: `[${c.n}] ${citationLabel(c)}`,
        onclick: () => toggleCite(msg, c.n),
      }))))));
    parts[parts.length - 1].addEventListener('toggle', (e) => { msg.sourcesOpen = e.target.open; });
  }
  el.replaceChildren(...parts);
  if (focused && focused.n) {
    const again = el.querySelector(`[data-n="${CSS.escape(focused.n)}"]`);
    if (again) again.focus();
  }
}

async function loadLlm() {
  try { return await api('/llm'); } catch { return null; }
}

async function chatView(view, convId, isCurrent) {
  if (convId !== chat.convId || (convId && !chat.messages.length)) {
    if (chat.abort) { chat.abort.abort(); chat.abort = null; }
    chat.convId = convId;
    chat.messages = [];
    chat.kbIds = [];
    if (convId) {
      const conv = await api(`/conversations/${enc(convId)}`);
      if (!isCurrent()) return;
      chat.kbIds = conv.knowledge_bases || [];
      chat.messages = (conv.messages || []).map((m) => ({
        role: m.role, content: m.content, reasoning: m.reasoning || '', citations: m.citations || [],
      }));
    }
  }
  const [{ list }, convs, llm] = await Promise.all([loadKbs(), api('/conversations'), loadLlm()]);
  if (!isCurrent()) return;
  const kbName = new Map(list.map((k) => [k.id, k.name]));
  if (!chat.selected.size && list.length) chat.selected.add(list[0].id);
  for (const id of [...chat.selected]) if (!kbName.has(id)) chat.selected.delete(id);

  // Sidebar.
  const buildSide = (conversations) => {
    const convList = h('ul', { class: 'conv-list' });
    for (const c of conversations) {
      const current = c.id === chat.convId;
      const pending = current ? chat.messages.find((m) => m.role === 'user')?.content.slice(0, 60) : '';
      const title = c.title || pending || t('chat.untitled');
      convList.append(h('li', { class: current ? 'current' : '' },
        h('a', { href: `#/chat/${enc(c.id)}`, 'aria-current': current ? 'page' : null },
          h('span', { class: 'conv-title', text: title }),
          h('span', { class: 'muted small', text: fmtDate(c.updated_at) })),
        h('button', {
          type: 'button', class: 'icon danger-text', 'aria-label': `${t('chat.deleteConv')}: ${title}`,
          title: t('chat.deleteConv'), text: '×',
          onclick: async () => {
            if (!await confirmDialog(t('chat.confirmDelete'))) return;
            try {
              await api(`/conversations/${enc(c.id)}`, { method: 'DELETE' });
              if (c.id === chat.convId) {
                if (chat.abort) { chat.abort.abort(); chat.abort = null; }
                chat.convId = null; chat.messages = []; go('#/chat');
              } else render();
            } catch (e) { toast(e.message, 'error'); }
          },
        })));
    }
    if (!convList.children.length) convList.append(h('li', { class: 'muted small', text: t('chat.noConversations') }));
    return h('aside', { class: 'conv-side', 'aria-labelledby': 'conv-title' },
      h('button', { type: 'button', class: 'new-chat', text: `+ ${t('chat.new')}`, onclick: () => {
        if (chat.abort) { chat.abort.abort(); chat.abort = null; }
        chat.convId = null; chat.messages = []; go('#/chat');
      } }),
      h('h2', { id: 'conv-title', class: 'h3', text: t('chat.conversations') }), convList);
  };
  let side = buildSide(convs.conversations || []);

  // LLM status.
  let llmLine = null;
  if (llm) {
    llmLine = llm.configured
      ? h('p', { class: `llm-status ${llm.reachable ? 'ok' : 'bad'}` },
        h('span', { class: 'dot', 'aria-hidden': 'true' }),
        `${t('chat.llmStatus', { model: llm.model })} · ${llm.reachable ? t('chat.llmReachable') : t('chat.llmUnreachable')}`)
      : h('p', { class: 'llm-status none' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), t('chat.llmNone'));
  }

  // Knowledge bases: picked for a new chat, fixed for an existing one.
  let scope;
  if (chat.convId) {
    scope = h('p', { class: 'meta scope', text: t('chat.kbsOf', { names: chat.kbIds.map((id) => kbName.get(id) || id).join(', ') }) });
  } else if (list.length) {
    scope = h('fieldset', { class: 'scope' }, h('legend', { text: t('chat.kbs') }), kbChecklist('ckb', list, chat.selected));
  } else {
    scope = h('p', { class: 'notice info', text: t('chat.noKbs') });
  }

  const msgs = h('div', { class: 'messages', role: 'log', 'aria-label': t('chat.title') });
  const question = h('textarea', { id: 'chat-q', rows: 2, placeholder: t('chat.placeholder'), required: true });
  const sendBtn = h('button', { type: 'submit', class: 'send', text: t('chat.send') });
  const stopBtn = h('button', { type: 'button', class: 'secondary', text: t('chat.stop'), hidden: true, onclick: () => chat.abort?.abort() });
  const composer = h('form', { class: 'composer' },
    h('label', { for: 'chat-q', class: 'sr-only', text: t('chat.question') }), question, sendBtn, stopBtn);
  question.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });

  function paintMsgs() {
    if (!chat.messages.length) {
      msgs.replaceChildren(h('p', { class: 'empty', text: t('chat.empty') }));
    } else {
      msgs.replaceChildren(...chat.messages.map(messageEl));
    }
    const busy = !!chat.abort;
    sendBtn.hidden = busy;
    stopBtn.hidden = !busy;
  }
  chat.paint = paintMsgs;
  const refreshSide = async () => {
    try {
      const data = await api('/conversations');
      if (!isCurrent()) return;
      const next = buildSide(data.conversations || []);
      side.replaceWith(next);
      side = next;
      if (chat.convId) scope.replaceWith(scope = h('p', { class: 'meta scope', text: t('chat.kbsOf', { names: chat.kbIds.map((id) => kbName.get(id) || id).join(', ') }) }));
    } catch { /* the list stays as it was */ }
  };
  chat.refreshSide = refreshSide;
  onLeave(() => {
    if (chat.paint === paintMsgs) chat.paint = null;
    if (chat.refreshSide === refreshSide) chat.refreshSide = null;
  });

  composer.addEventListener('submit', async (e) => {
    e.preventDefault();
    const q = question.value.trim();
    if (!q || chat.abort) return;
    if (!chat.convId && !chat.selected.size) { toast(t('search.noKb'), 'error'); return; }
    question.value = '';
    await ask(q);
  });

  view.append(h('div', { class: 'chat-layout' }, side,
    h('section', { class: 'chat-main', 'aria-labelledby': 'chat-h1' },
      h('div', { class: 'page-head' }, h('h1', { id: 'chat-h1', text: t('chat.title') }), llmLine),
      scope, msgs, composer)));
  paintMsgs();
}

function nearBottom() {
  return window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
}

function keepBottom(wasNear) {
  if (wasNear) window.scrollTo(0, document.documentElement.scrollHeight);
}

/** Asks `question` in the open conversation (created first for a new chat), streaming the answer. */
async function ask(question) {
  const ctrl = new AbortController();
  chat.abort = ctrl;
  const user = { role: 'user', content: question };
  const msg = { role: 'assistant', content: '', reasoning: '', citations: [], streaming: true };
  chat.messages.push(user, msg);
  chat.paint?.();
  keepBottom(true);
  const update = () => { const near = nearBottom(); paintMessage(msg); keepBottom(near); };
  try {
    if (!chat.convId) {
      const conv = await api('/conversations', { method: 'POST', body: { knowledge_bases: [...chat.selected] }, signal: ctrl.signal });
      chat.convId = conv.id;
      chat.kbIds = conv.knowledge_bases;
      history.replaceState(null, '', `#/chat/${enc(conv.id)}`);
      chat.refreshSide?.();
    }
    const res = await fetch(`/api/v1/conversations/${enc(chat.convId)}/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ question, stream: true }),
      signal: ctrl.signal,
    });
    if (!res.ok || !res.body) {
      await readResponse(res);
      throw new ApiError(res.status, 'http', res.statusText);
    }
    for await (const ev of sseEvents(res.body)) {
      let data;
      try { data = JSON.parse(ev.data); } catch { continue; }
      if (ev.event === 'reasoning') msg.reasoning += data.text || '';
      else if (ev.event === 'delta') msg.content += data.text || '';
      else if (ev.event === 'citations') msg.citations = data.citations || [];
      else if (ev.event === 'done') { msg.mode = data.mode; msg.notice = data.notice || null; }
      else if (ev.event === 'error') msg.error = data.error || { code: 'error', message: '' };
      update();
    }
  } catch (e) {
    if (e.name === 'AbortError') msg.notice = t('chat.stopped');
    else msg.error = { code: e.code || 'error', message: e.message };
  } finally {
    msg.streaming = false;
    if (chat.abort === ctrl) chat.abort = null;
    if (chat.messages.includes(msg)) {
      update();
      chat.paint?.();
      // The new conversation and its title show in the sidebar.
      chat.refreshSide?.();
    }
  }
}

// ---------- start ----------

function applyStaticText() {
  document.documentElement.lang = getLang() === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  document.getElementById('nav').setAttribute('aria-label', t('nav.main'));
  document.getElementById('lang').value = getLang();
  document.title = `ragd · ${t('app.tagline')}`;
  paintSignOut();
}

function start() {
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
