// Chat: conversations in a sidebar, the open one's messages, and asking with the answer
// streamed (SSE).

import { t } from '../i18n.js';
import { api, ApiError, enc, loadKbs, readResponse } from '../lib/api.js';
import { confirmDialog, h, toast } from '../lib/dom.js';
import { fmtDate } from '../lib/format.js';
import { kbChecklist } from '../lib/forms.js';
import { go, onLeave, render } from '../lib/router.js';
import { sseEvents } from '../lib/sse.js';
import { messageEl, paintMessage } from './answer.js';

/** The chat, kept across views. */
const chat = {
  convId: null, // the open conversation, null for a new one
  kbIds: [], // knowledge bases of the open conversation
  messages: [], // {role, content, reasoning, citations, mode, notice, error, streaming, openCite, el}
  selected: new Set(), // knowledge bases picked for a new conversation
  abort: null,
  paint: null, // repaints the open view's message list, when shown
};

async function loadLlm() {
  try { return await api('/llm'); } catch { return null; }
}

export async function chatView(view, convId, isCurrent) {
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
