// The chunks of one document, with a filter that marks what it matched.

import { t } from '../i18n.js';
import { api, enc } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { fmtBytes } from '../lib/format.js';
import { highlighted } from '../lib/highlight.js';
import { statusBadge } from './kb.js';

const chunkFilters = new Map(); // doc id -> filter text, kept across re-renders

export async function chunksView(view, kbId, docId, isCurrent) {
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
