// Query terms marked in text (<mark>), for search hits and the chunk filter.

import { h } from './dom.js';

const STOPWORDS = new Set(('a an and are as at be by do does for from how i in is it of on or the to was '
  + 'what when where which who why with').split(' '));

/** Terms of a query worth highlighting: words (2+ letters, no stopwords), CJK runs and their bigrams. */
export function queryTerms(q) {
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
export function termsRe(terms, stems) {
  const alts = [...terms].sort((a, b) => b.length - a.length).map((term) => (
    stems && !/\p{Script=Han}/u.test(term) ? `(?<![\\p{L}\\p{N}])${escapeRe(wordRoot(term))}[\\p{L}\\p{N}]*` : escapeRe(term)));
  return new RegExp(alts.join('|'), 'giu');
}

/** Text with each term wrapped in <mark>, as DOM nodes. */
export function highlighted(text, terms, stems = false) {
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
