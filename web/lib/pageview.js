// The page a passage comes from (PDFs and images): a "Show page" button that opens the page
// image, fetched only then, with the passage's lines marked by rectangles placed from its
// boxes (fractions of the page from its top-left corner).

import { t } from '../i18n.js';
import { enc } from './api.js';
import { h } from './dom.js';

let seq = 0;
const pct = (v) => `${(Math.min(1, Math.max(0, Number(v) || 0)) * 100).toFixed(3)}%`;

/**
 * The button and the (lazily built) page for `item` (a hit or a citation with `document_id`,
 * `page`, `boxes`) of knowledge base `kb` (id or name); null when it has no page.
 */
export function pageView(kb, item) {
  if (item.page == null || !item.document_id || !kb) return null;
  const panel = h('div', { class: 'page-view', id: `page-view-${++seq}` });
  const button = h('button', { type: 'button', class: 'link small page-toggle', 'data-n': 'page', 'aria-controls': panel.id });
  const set = (on) => {
    button.setAttribute('aria-expanded', String(on));
    button.textContent = t(on ? 'page.hide' : 'page.show', { n: item.page });
    panel.hidden = !on;
    if (on && !panel.firstChild) panel.append(pageFigure(kb, item));
  };
  button.addEventListener('click', () => set(panel.hidden));
  set(false);
  return h('div', { class: 'page-ref' }, button, panel);
}

function pageFigure(kb, item) {
  const img = h('img', {
    src: `/api/v1/knowledge-bases/${enc(kb)}/documents/${enc(item.document_id)}/pages/${enc(item.page)}/image`,
    alt: t(item.boxes?.length ? 'page.alt' : 'page.altPlain', { n: item.page, name: item.document_name || '' }),
    decoding: 'async',
  });
  const marks = (item.boxes || []).map((b) => {
    const mark = h('span', { class: 'page-mark', 'aria-hidden': 'true' });
    // CSSOM, not a style attribute: the UI's CSP has no 'unsafe-inline' for styles.
    Object.assign(mark.style, { left: pct(b.x0), top: pct(b.y0), width: pct(b.x1 - b.x0), height: pct(b.y1 - b.y0) });
    return mark;
  });
  const frame = h('div', { class: 'page-frame' }, img, marks);
  img.addEventListener('error', () => frame.replaceWith(h('p', { class: 'notice error', role: 'alert', text: t('page.failed') })));
  img.addEventListener('load', () => (marks[0] || frame).scrollIntoView({ block: 'nearest' }), { once: true });
  return frame;
}
