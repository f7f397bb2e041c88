// The System page: the vector index and its maintenance, backups (back up now).

import { t } from '../i18n.js';
import { api } from '../lib/api.js';
import { fill, h, toast } from '../lib/dom.js';
import { fmtBytes, fmtDate } from '../lib/format.js';

/** Index shape and maintenance, backups with a button to take one. */
export async function systemView(view, isCurrent) {
  const indexBox = h('section', { class: 'card system-index', 'aria-labelledby': 'sys-index' },
    h('h2', { id: 'sys-index', text: t('sys.index') }), h('p', { class: 'muted', text: t('common.loading') }));
  const backupList = h('div', { class: 'backup-list' }, h('p', { class: 'muted', text: t('common.loading') }));
  const button = h('button', { type: 'button', text: t('sys.backupNow') });
  const backupBox = h('section', { class: 'card system-backups', 'aria-labelledby': 'sys-backups' },
    h('div', { class: 'row spread' }, h('h2', { id: 'sys-backups', text: t('sys.backups') }), button),
    h('p', { class: 'hint', text: t('sys.backupHint') }), backupList);
  view.append(h('div', { class: 'page-head' }, h('h1', { text: t('sys.title') })), indexBox, backupBox);

  const paintIndex = (info) => {
    const o = info.optimize || {};
    const row = (key, value) => [h('dt', { text: t(key) }), h('dd', { 'data-k': key.split('.')[1], text: String(value) })];
    fill(indexBox, h('h2', { id: 'sys-index', text: t('sys.index') }),
      h('dl', { class: 'stats' },
        row('sys.points', info.points),
        row('sys.segments', info.segments),
        row('sys.indexed', info.indexed_vectors),
        row('sys.pending', info.changes_since_optimize),
        row('sys.optimized', o.last_finished_at
          ? t('sys.optimizedAt', { when: fmtDate(o.last_finished_at), ms: o.last_duration_ms, runs: o.runs })
          : t('sys.never'))),
      o.last_error ? h('p', { class: 'notice error', role: 'alert', text: o.last_error }) : null);
  };
  const paintBackups = (backups) => {
    if (!backups.length) { backupList.replaceChildren(h('p', { class: 'empty', text: t('sys.noBackups') })); return; }
    const rows = backups.map((b) => h('tr', { 'data-name': b.name },
      h('td', { class: 'name', text: b.name }),
      h('td', { class: 'nowrap', text: b.created_at ? fmtDate(b.created_at) : '' }),
      h('td', { class: 'num', text: fmtBytes(b.bytes) }),
      h('td', null, h('code', { text: b.path }))));
    backupList.replaceChildren(h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': t('sys.backups') },
      h('table', { class: 'runs' },
        h('thead', null, h('tr', null, ['sys.name', 'sys.created', 'sys.size', 'sys.path'].map((k) => h('th', { scope: 'col', text: t(k) })))),
        h('tbody', null, rows))));
  };
  const load = async () => {
    const [info, listed] = await Promise.all([api('/index'),
      api('/backups').catch((e) => { if (e.status === 403) return null; throw e; })]);
    if (!isCurrent()) return;
    paintIndex(info);
    if (listed) paintBackups(listed.backups || []);
    else {
      // A reader key: backups are for the admin key.
      button.hidden = true;
      backupList.replaceChildren(h('p', { class: 'muted', text: t('sys.adminOnly') }));
    }
  };
  button.addEventListener('click', async () => {
    button.disabled = true;
    button.textContent = t('sys.backingUp');
    try {
      const b = await api('/backups', { method: 'POST' });
      toast(t('sys.backedUp', { path: b.path }));
      await load();
    } catch (e) {
      toast(e.message, 'error');
    } finally {
      button.disabled = false;
      button.textContent = t('sys.backupNow');
    }
  });
  await load();
}
