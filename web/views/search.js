// The retrieval test: a query against chosen knowledge bases, hits with their scores and
// matched terms.

import { t } from '../i18n.js';
import { api, enc, loadKbs } from '../lib/api.js';
import { errorBox, h } from '../lib/dom.js';
import { fmtScore } from '../lib/format.js';
import { kbChecklist, optionFields } from '../lib/forms.js';
import { highlighted, queryTerms, termsRe } from '../lib/highlight.js';
import { pageView } from '../lib/pageview.js';

const searchState = {
  query: '', kbs: null, topK: 5, options: {}, advancedOpen: false, hits: null, error: null, lastQuery: '',
};

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
    h('div', { class: 'chunk-text' }, highlighted(hit.text, terms, stems)),
    pageView(hit.knowledge_base_id, hit));
}

export async function searchView(view, isCurrent) {
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
