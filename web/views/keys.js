// The API keys page (admin only): the keys with their role, scope and state, a form that
// makes one (its secret is shown once, here), and revoking.

import { t } from '../i18n.js';
import { api, enc, loadKbs } from '../lib/api.js';
import { confirmDialog, h, toast } from '../lib/dom.js';
import { fmtDate } from '../lib/format.js';
import { kbChecklist } from '../lib/forms.js';
import { render } from '../lib/router.js';

export async function keysView(view, isCurrent) {
  const listBox = h('div', { class: 'key-list' }, h('p', { class: 'muted', text: t('common.loading') }));
  view.append(h('div', { class: 'page-head' }, h('h1', { text: t('keys.title') })),
    h('p', { class: 'hint', text: t('keys.lead') }), h('div', { class: 'key-secret', 'aria-live': 'polite' }));
  let listed;
  let kbs;
  try {
    [listed, { list: kbs }] = await Promise.all([api('/keys'), loadKbs()]);
  } catch (e) {
    if (!isCurrent()) return;
    view.append(h('p', { class: 'notice error', role: 'alert', text: e.status === 409 || e.status === 403 ? t('keys.unavailable') : e.message }));
    return;
  }
  if (!isCurrent()) return;
  view.append(h('div', { class: 'split' }, listBox, keyForm(kbs)));
  paintKeys(listBox, listed.keys || []);
}

function scopeText(k) {
  if (!k.knowledge_bases) return t('keys.allKbs');
  return k.knowledge_bases.map((e) => e.name || t('keys.deletedKb', { id: e.id })).join(', ');
}

function paintKeys(box, keys) {
  if (!keys.length) { box.replaceChildren(h('p', { class: 'empty', text: t('keys.none') })); return; }
  const rows = keys.map((k) => {
    const revoke = k.status === 'revoked' ? null : h('button', {
      type: 'button', class: 'danger small', text: t('keys.revoke'),
      'aria-label': `${t('keys.revoke')} ${k.name}`,
      onclick: async () => {
        if (!await confirmDialog(t('keys.confirmRevoke', { name: k.name }), t('keys.revoke'))) return;
        try {
          await api(`/keys/${enc(k.id)}`, { method: 'DELETE' });
          toast(t('keys.revoked', { name: k.name }));
          render();
        } catch (e) { toast(e.message, 'error'); }
      },
    });
    return h('tr', { 'data-id': k.id, 'data-status': k.status },
      h('td', { class: 'name' }, h('span', { text: k.name }), h('span', { class: 'muted small', text: ` …${k.hint}` })),
      h('td', { text: t(`keys.role.${k.role}`) }),
      h('td', { class: 'scope', text: scopeText(k) }),
      h('td', { class: 'status', text: t(`keys.status.${k.status}`) }),
      h('td', { class: 'nowrap', text: k.expires_at ? fmtDate(k.expires_at) : t('keys.never') }),
      h('td', { class: 'nowrap', text: k.last_used_at ? fmtDate(k.last_used_at) : t('keys.unused') }),
      h('td', null, revoke));
  });
  box.replaceChildren(h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': t('keys.title') },
    h('table', { class: 'runs keys' },
      h('thead', null, h('tr', null, ['keys.name', 'keys.roleLabel', 'keys.scope', 'keys.statusLabel', 'keys.expires', 'keys.lastUsed', 'keys.actions']
        .map((key) => h('th', { scope: 'col', text: t(key) })))),
      h('tbody', null, rows))));
}

function keyForm(kbs) {
  const err = h('div', { class: 'form-error', 'aria-live': 'polite' });
  const selected = new Set();
  const role = h('select', { id: 'key-role', name: 'role' },
    ['reader', 'editor', 'admin'].map((r) => h('option', { value: r, text: t(`keys.role.${r}`) })));
  const scopeBox = h('fieldset', { class: 'field key-scope' },
    h('legend', { text: t('keys.scope') }),
    h('p', { class: 'hint', text: t('keys.scopeHint') }),
    kbChecklist('key-kb', kbs, selected));
  role.addEventListener('change', () => { scopeBox.hidden = role.value === 'admin'; });
  const field = (id, label, input, hint) => h('div', { class: 'field' },
    h('label', { for: id, text: label }), input, hint ? h('p', { class: 'hint', text: hint }) : null);
  const form = h('form', { class: 'card form', 'aria-labelledby': 'key-new-title' },
    h('h2', { id: 'key-new-title', text: t('keys.new') }),
    field('key-name', t('keys.name'), h('input', { id: 'key-name', name: 'name', required: true, maxlength: 100, autocomplete: 'off' })),
    field('key-role', t('keys.roleLabel'), role, t('keys.roleHint')),
    scopeBox,
    field('key-expires', t('keys.expires'), h('input', { id: 'key-expires', name: 'expires', type: 'date' }), t('keys.expiresHint')),
    err,
    h('div', { class: 'row end' }, h('button', { type: 'submit', text: t('keys.create') })));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.replaceChildren();
    const fd = new FormData(form);
    const body = { name: String(fd.get('name')).trim(), role: role.value };
    if (role.value !== 'admin' && selected.size) body.knowledge_bases = [...selected];
    const expires = String(fd.get('expires') || '');
    if (expires) body.expires_at = new Date(`${expires}T23:59:59`).toISOString();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const made = await api('/keys', { method: 'POST', body });
      await render();
      // After the page is drawn again: the secret, this once.
      const box = document.querySelector('.key-secret');
      const code = h('code', { id: 'new-secret', text: made.secret });
      const copy = h('button', {
        type: 'button', class: 'secondary small', text: t('keys.copy'),
        onclick: async () => {
          try { await navigator.clipboard.writeText(made.secret); toast(t('keys.copied')); } catch { toast(t('keys.copyFailed'), 'error'); }
        },
      });
      box?.replaceChildren(h('div', { class: 'notice warn', role: 'alert' },
        h('p', null, h('strong', { text: t('keys.madeTitle', { name: made.name }) })),
        h('p', { text: t('keys.shownOnce') }),
        h('p', { class: 'row' }, code, copy)));
    } catch (ex) {
      err.replaceChildren(h('p', { class: 'notice error', role: 'alert', text: ex.message }));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
