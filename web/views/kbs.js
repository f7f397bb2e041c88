// The knowledge base list, with the form that creates one.

import { t } from '../i18n.js';
import { api, enc, kbCache, loadKbs } from '../lib/api.js';
import { confirmDialog, h, toast } from '../lib/dom.js';
import { fmtDate } from '../lib/format.js';
import { go, render } from '../lib/router.js';

export async function kbListView(view, isCurrent) {
  const listBox = h('div', { class: 'kb-list' }, h('p', { class: 'muted', text: t('common.loading') }));
  const form = kbForm();
  view.append(
    h('div', { class: 'page-head' }, h('h1', { text: t('kb.title') })),
    h('div', { class: 'split' }, listBox, form),
  );
  const { list, presets } = await loadKbs();
  if (!isCurrent()) return;
  const select = form.querySelector('#kb-embedding');
  select.replaceChildren(...presets.map((p) => h('option', {
    value: p.name,
    text: p.name === 'default' ? `${p.model} (${t('kb.defaultModel')})` : `${p.name}: ${p.model}`,
  })));
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
        h('span', { text: t('kb.chunking', { size: kb.chunk_size, overlap: kb.chunk_overlap }) }), ' · ',
        h('span', { class: 'kb-template', text: t(`kb.template.${kb.chunk_template || 'general'}`).split(/[:：]/)[0] })),
      h('p', { class: 'meta' }, `${t('kb.model')}: `, h('code', { class: 'kb-model', text: kb.embedding_model })),
      h('p', { class: 'meta', text: fmtDate(kb.created_at) }),
      h('div', { class: 'row' },
        h('a', { class: 'button small', href: `#/kb/${enc(kb.id)}`, text: t('kb.open') }), del)));
  }
  listBox.replaceChildren(ul);
}

/** A select of the chunk templates, `value` chosen. */
export function templateSelect(id, value) {
  return h('select', { id, name: 'chunk_template' },
    ...['general', 'qa', 'table', 'parent_child'].map((k) =>
      h('option', { value: k, text: t(`kb.template.${k}`), selected: k === value })));
}

function kbForm() {
  const err = h('div', { class: 'form-error', 'aria-live': 'polite' });
  const field = (id, label, input, hint) => h('div', { class: 'field' },
    h('label', { for: id, text: label }), input, hint ? h('p', { class: 'hint', text: hint }) : null);
  const form = h('form', { class: 'card form admin-only unscoped-only', 'aria-labelledby': 'kb-new-title' },
    h('h2', { id: 'kb-new-title', text: t('kb.new') }),
    field('kb-name', t('kb.name'), h('input', { id: 'kb-name', name: 'name', required: true, maxlength: 100, autocomplete: 'off' })),
    field('kb-desc', t('kb.description'), h('textarea', { id: 'kb-desc', name: 'description', rows: 2, maxlength: 2000 })),
    h('div', { class: 'row fields' },
      field('kb-size', t('kb.chunkSize'), h('input', { id: 'kb-size', name: 'chunk_size', type: 'number', min: 16, max: 8192, inputmode: 'numeric' })),
      field('kb-overlap', t('kb.chunkOverlap'), h('input', { id: 'kb-overlap', name: 'chunk_overlap', type: 'number', min: 0, max: 4096, inputmode: 'numeric' }))),
    h('p', { class: 'hint', text: t('kb.defaultHint') }),
    field('kb-template', t('kb.template'), templateSelect('kb-template', 'general')),
    field('kb-ocr', t('kb.ocr'), h('input', { id: 'kb-ocr', name: 'ocr_languages', maxlength: 200, autocomplete: 'off', placeholder: 'eng, chi_sim' }), t('kb.ocrHint')),
    field('kb-embedding', t('kb.model'), h('select', { id: 'kb-embedding', name: 'embedding' },
      h('option', { value: 'default', text: kbCache.model })), t('kb.modelHint')),
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
    body.chunk_template = String(fd.get('chunk_template') || 'general');
    const ocr = String(fd.get('ocr_languages') || '').trim();
    if (ocr) body.ocr_languages = ocr === 'none' ? [] : ocr.split(/[\s,，+]+/).filter(Boolean);
    const embedding = String(fd.get('embedding') || 'default');
    if (embedding !== 'default') body.embedding = embedding;
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
