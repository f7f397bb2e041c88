// A knowledge base's re-index: choose another embedding model and/or chunking, start it,
// follow its progress (polled while it runs), cancel it.

import { t } from '../i18n.js';
import { api, enc, loadKbs } from '../lib/api.js';
import { confirmDialog, errorBox, h, toast } from '../lib/dom.js';
import { poller } from '../lib/poll.js';
import { onLeave } from '../lib/router.js';
import { templateSelect } from './kbs.js';

const ACTIVE = new Set(['running', 'cancelling']);

/** The re-index card of `kb`; `onSwitched(kb)` gets the knowledge base after a switch. */
export function reindexSection(kb, onSwitched) {
  const base = `/knowledge-bases/${enc(kb.id)}`;
  const err = h('div', { class: 'form-error', 'aria-live': 'polite' });
  const model = h('select', { id: 'ri-model', name: 'embedding' },
    h('option', { value: '', text: t('reindex.keep', { model: kb.embedding_model }) }));
  const size = h('input', { id: 'ri-size', name: 'chunk_size', type: 'number', min: 16, max: 8192, inputmode: 'numeric', value: kb.chunk_size });
  const overlap = h('input', { id: 'ri-overlap', name: 'chunk_overlap', type: 'number', min: 0, max: 4096, inputmode: 'numeric', value: kb.chunk_overlap });
  const template = templateSelect('ri-template', kb.chunk_template || 'general');
  const start = h('button', { type: 'submit', text: t('reindex.start') });
  const state = h('div', { class: 'reindex-state', 'aria-live': 'polite' });
  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id, text: label }), input);
  const form = h('form', { class: 'form' },
    h('p', { class: 'hint', text: t('reindex.hint') }),
    field('ri-model', t('reindex.model'), model),
    h('div', { class: 'row fields' },
      field('ri-size', t('kb.chunkSize'), size),
      field('ri-overlap', t('kb.chunkOverlap'), overlap)),
    field('ri-template', t('kb.template'), template),
    err, state,
    h('div', { class: 'row end' }, start));
  const details = h('details', { class: 'card admin-only reindex' },
    h('summary', { text: t('reindex.title') }), form);

  loadKbs().then(({ presets }) => {
    for (const p of presets || []) {
      if (p.model === kb.embedding_model) continue;
      model.append(h('option', { value: p.name, text: p.name === 'default' ? p.model : `${p.name}: ${p.model}` }));
    }
  }).catch(() => {});

  let lastStatus = null;
  const follow = poller({
    load: async () => (await api(`${base}/reindexes`))[0] || null,
    paint(r) {
      err.replaceChildren();
      if (!r) { state.replaceChildren(); return null; }
      const active = ACTIVE.has(r.status);
      start.disabled = active;
      if (active) {
        details.open = true;
        const cancel = h('button', {
          type: 'button', class: 'secondary small', text: t('reindex.cancel'),
          onclick: async () => {
            cancel.disabled = true;
            try { await api(`${base}/reindex/cancel`, { method: 'POST' }); follow.soon(0); } catch (e) { toast(e.message, 'error'); }
          },
        });
        const text = r.status === 'cancelling' ? t('reindex.cancelling')
          : t('reindex.running', { model: r.embedding_model, done: r.done, total: r.total });
        state.replaceChildren(h('p', { class: 'notice' }, text),
          h('progress', { max: Math.max(r.total, 1), value: r.done, 'aria-label': text }),
          r.note ? h('p', { class: 'hint', text: r.note }) : '',
          h('div', { class: 'row end' }, cancel));
      } else {
        const text = r.status === 'done' ? t('reindex.done', { model: r.embedding_model, dim: r.embedding_dim, total: r.total, embedded: r.embedded })
          : r.status === 'cancelled' ? t('reindex.cancelled') : t('reindex.failed', { error: r.error || '' });
        state.replaceChildren(h('p', { class: `notice${r.status === 'failed' ? ' error' : ''}`, text }));
        if (lastStatus && ACTIVE.has(lastStatus) && r.status === 'done') {
          api(base).then((next) => { toast(t('reindex.switched', { name: next.name })); onSwitched(next); }).catch(() => {});
        }
      }
      lastStatus = r.status;
      return active ? 1000 : null;
    },
    fail: (e) => err.replaceChildren(errorBox(e)),
  });
  onLeave(() => follow.stop());
  follow.now();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.replaceChildren();
    const body = {};
    if (model.value) body.embedding = model.value;
    if (Number(size.value) !== kb.chunk_size) body.chunk_size = Number(size.value);
    if (Number(overlap.value) !== kb.chunk_overlap) body.chunk_overlap = Number(overlap.value);
    if (template.value !== (kb.chunk_template || 'general')) body.chunk_template = template.value;
    if (!Object.keys(body).length) body.chunk_size = Number(size.value);
    if (!(await confirmDialog(t('reindex.confirm', { name: kb.name }), t('reindex.start')))) return;
    start.disabled = true;
    try {
      await api(`${base}/reindex`, { method: 'POST', body });
      toast(t('reindex.started', { name: kb.name }));
      lastStatus = 'running';
      follow.now();
    } catch (ex) {
      start.disabled = false;
      err.replaceChildren(h('p', { class: 'notice error', role: 'alert', text: ex.message }));
    }
  });
  return details;
}
