// One knowledge base: its settings, uploads, sources and documents (polled while busy).

import { t } from '../i18n.js';
import { api, enc, kbCache, loadKbs } from '../lib/api.js';
import { confirmDialog, errorBox, h, toast } from '../lib/dom.js';
import { fmtBytes, fmtDate } from '../lib/format.js';
import { OPTION_KEYS, optionFields } from '../lib/forms.js';
import { poller } from '../lib/poll.js';
import { onLeave } from '../lib/router.js';
import { reindexSection } from './reindex.js';
import { sourcesSection } from './sources.js';
import { docListeners, queueFiles, uploadRow, uploads } from './uploads.js';

const BUSY = new Set(['queued', 'parsing', 'embedding']);

/** A document's status, with its embedding progress or error. */
export function statusBadge(doc) {
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

export async function kbView(view, kbId, isCurrent) {
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

  const rows = new Map(); // doc id -> {tr, key, doc}
  const docs = poller({
    load: () => api(`${base}/documents?limit=1000`),
    paint: paintDocs,
    fail: (e) => docsError.replaceChildren(errorBox(e)),
    retryMs: 3000,
  });
  function onUpload(id) { if (id === kb.id) docs.soon(0); }
  docListeners.add(onUpload);
  onLeave(() => { docs.stop(); docListeners.delete(onUpload); });

  const meta = h('p', { class: 'meta kb-meta' });
  function paintMeta() {
    meta.replaceChildren(t('kb.chunking', { size: kb.chunk_size, overlap: kb.chunk_overlap }),
      ` · ${t('kb.template')}: ${t(`kb.template.${kb.chunk_template || 'general'}`).split(/[:：]/)[0]}`,
      kb.embedding_model ? ` · ${t('kb.model')}: ${kb.embedding_model} (${kb.embedding_dim})` : '');
  }
  paintMeta();
  view.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/kbs', text: `← ${t('nav.kbs')}` })),
    h('div', { class: 'page-head' },
      h('h1', { text: kb.name }),
      meta),
    desc,
    kbSettings(kb, (next) => {
      desc.textContent = next.description;
      desc.hidden = !next.description;
    }),
    reindexSection(kb, (next) => {
      Object.assign(kb, next);
      paintMeta();
      docs.soon(0);
    }),
    drop,
    uploadSection,
    // A source's folder path and URLs are the admin's business.
    document.body.dataset.role === 'reader' ? null : sourcesSection(kb, () => docs.soon(0)),
    h('section', { 'aria-labelledby': 'docs-title' },
      h('div', { class: 'row between' }, h('h2', { id: 'docs-title', text: t('doc.title') }), count),
      docsError, table, empty));
  paintUploads();

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
          docs.soon(0);
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
          docs.soon(0);
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
    const key = JSON.stringify([doc.status, doc.error, doc.chunk_count, doc.progress, doc.name, doc.size_bytes, doc.source_id, doc.metadata]);
    if (key === row.key) return;
    row.key = key;
    row.tr.dataset.status = doc.status;
    row.cells.name.replaceChildren(h('span', { class: 'name', text: doc.name }),
      doc.format ? h('span', { class: 'fmt', text: doc.format }) : null,
      doc.source_id ? h('span', { class: 'fmt from-source', title: t('src.fromSourceTitle'), text: t('src.fromSource') }) : null,
      metadataCell(doc));
    row.cells.status.replaceChildren(statusBadge(doc));
    row.cells.chunks.textContent = String(doc.chunk_count);
    row.cells.size.textContent = fmtBytes(doc.size_bytes);
    row.cells.date.textContent = fmtDate(doc.created_at);
    row.reparse.disabled = BUSY.has(doc.status);
  }

  /** A document's metadata as `key: value` tags, and (admins) an editor of its JSON. */
  function metadataCell(doc) {
    const meta = doc.metadata || {};
    const entries = Object.entries(meta);
    const tags = h('span', { class: 'meta-tags' }, ...entries.map(([k, v]) =>
      h('span', { class: 'meta-tag', text: `${k}: ${Array.isArray(v) ? v.join(', ') : v}` })));
    const area = h('textarea', { rows: 4, 'aria-label': t('doc.metadata'), value: JSON.stringify(meta, null, 2) });
    const err = h('p', { class: 'form-error', 'aria-live': 'polite' });
    const save = h('button', {
      type: 'button', class: 'small', text: t('doc.saveMetadata'),
      onclick: async () => {
        err.textContent = '';
        let value;
        try { value = JSON.parse(area.value || '{}'); } catch (e) { err.textContent = t('doc.metadataJson'); return; }
        save.disabled = true;
        try {
          await api(`${base}/documents/${enc(doc.id)}`, { method: 'PATCH', body: { metadata: value } });
          toast(t('doc.metadataSaved', { name: doc.name }));
          docs.soon(0);
        } catch (e) { err.textContent = e.message; } finally { save.disabled = false; }
      },
    });
    const editor = h('details', { class: 'meta-edit admin-only' },
      h('summary', { text: entries.length ? t('doc.editMetadata') : t('doc.addMetadata') }), area, err, save);
    return h('div', { class: 'doc-meta' }, tags, editor);
  }

  /** Paints the document list; polls again while documents or uploads are busy. */
  function paintDocs(data) {
    docsError.replaceChildren();
    const list = data.documents || [];
    const seen = new Set();
    list.forEach((doc, i) => {
      seen.add(doc.id);
      let row = rows.get(doc.id);
      if (!row) { row = docRow(doc); rows.set(doc.id, row); }
      paintRow(row, doc);
      if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
    });
    for (const [id, row] of rows) if (!seen.has(id)) { row.tr.remove(); rows.delete(id); }
    count.textContent = t('doc.total', { n: data.total ?? list.length });
    table.hidden = !list.length;
    empty.hidden = !!list.length;
    const busy = list.some((d) => BUSY.has(d.status)) || uploads.some((u) => u.kbId === kb.id && ['waiting', 'uploading'].includes(u.status));
    return busy ? 1000 : null;
  }
  table.hidden = true;
  empty.hidden = true;
  await docs.now();
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
