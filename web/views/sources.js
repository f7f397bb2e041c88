// The sources of a knowledge base (folders and URL lists kept in sync): their runs, polled
// while active, their history, and the form that adds one.

import { getLang, t } from '../i18n.js';
import { api, enc } from '../lib/api.js';
import { confirmDialog, errorBox, fill, h, toast } from '../lib/dom.js';
import { browserTimeZone, fmtDate, fmtDateIn, fmtDuration } from '../lib/format.js';
import { poller } from '../lib/poll.js';
import { onLeave } from '../lib/router.js';

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
export function sourcesSection(kb, onDocsChanged) {
  const base = `/knowledge-bases/${enc(kb.id)}/sources`;
  const list = h('ul', { class: 'sources', 'aria-label': t('src.title') });
  const empty = h('p', { class: 'muted small', text: t('src.empty'), hidden: true });
  const listError = h('div');
  const title = h('h2', { id: 'src-title', tabindex: -1, text: t('src.title') });
  const cards = new Map(); // source id -> card
  const sources = poller({
    load: () => api(base),
    paint: paintList,
    fail: (e) => listError.replaceChildren(errorBox(e)),
    retryMs: 5000,
  });
  onLeave(sources.stop);

  /** Paints the source cards; polls again while a run is active, and now and then while
   * a source runs on a schedule (its runs show up). */
  function paintList(data) {
    listError.replaceChildren();
    const all = data.sources || [];
    const seen = new Set();
    all.forEach((src, i) => {
      seen.add(src.id);
      let card = cards.get(src.id);
      if (!card) { card = sourceCard(src); cards.set(src.id, card); }
      paintCard(card, src);
      if (list.children[i] !== card.li) list.insertBefore(card.li, list.children[i] || null);
    });
    for (const [id, card] of cards) if (!seen.has(id)) { card.li.remove(); cards.delete(id); }
    empty.hidden = !!all.length;
    if (all.some((s) => s.last_run && ACTIVE_RUN.has(s.last_run.status))) return 1000;
    if (all.some((s) => s.enabled && s.schedule)) return 15000;
    return null;
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
        sources.soon(0); // after a 409 too: that shows the active run
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
        sources.soon(0);
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
        sources.soon(0);
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
          sources.soon(0);
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
      if (sources.stopped || my !== card.histSeq) return;
      card.historyBox.replaceChildren(h('h3', { class: 'h3', text: t('src.history') }), runsTable(data.runs || []));
    } catch (e) {
      if (!sources.stopped && my === card.histSeq) card.historyBox.replaceChildren(errorBox(e));
    }
  }

  const form = sourceForm(kb, base, async (src) => {
    await sources.now();
    cards.get(src.id)?.run.focus();
  });
  const section = h('section', { class: 'sources-section', 'aria-labelledby': 'src-title' },
    title,
    h('p', { class: 'hint', text: t('src.intro') }),
    listError, list, empty, form);
  sources.now();
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
