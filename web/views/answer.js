// One chat message as DOM: the answer's safe Markdown subset, citations as buttons that open
// the cited passage, reasoning, notices and errors.

import { getLang, t } from '../i18n.js';
import { markdownBlocks } from '../markdown.js';
import { h } from '../lib/dom.js';
import { pageView } from '../lib/pageview.js';

function errorText(err) {
  const key = { llm_unavailable: 'chat.llmUnavailable', llm_timeout: 'chat.llmTimeout', llm_error: 'chat.llmError' }[err.code];
  return key ? t(key) : t('chat.failed');
}

function citationLabel(c) {
  return [c.document_name, c.page != null ? t('chat.page', { n: c.page }) : null].filter(Boolean).join(' · ');
}

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

/** The open citation's page view, kept across repaints (streaming repaints often). */
function citedPage(msg, c) {
  const key = `${c.n} ${getLang()}`;
  if (msg.page?.key !== key) msg.page = { key, el: pageView(c.knowledge_base_id || c.knowledge_base, c) };
  return msg.page.el;
}

/** A new element for `msg`, kept as `msg.el` for repainting. */
export function messageEl(msg) {
  const el = h('article', { class: `msg ${msg.role}` });
  msg.el = el;
  paintMessage(msg);
  return el;
}

/** Repaints `msg.el` from `msg`, keeping keyboard focus on the same button. */
export function paintMessage(msg) {
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
        h('blockquote', { class: 'chunk-text', text: open.text }),
        citedPage(msg, open)));
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
