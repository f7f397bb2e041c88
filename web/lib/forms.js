// Form parts more than one view uses: the search option selectors and a knowledge base
// checklist.

import { t } from '../i18n.js';
import { h } from './dom.js';

const OPTION_SELECTS = [
  ['mode', ['hybrid', 'dense', 'sparse']],
  ['fusion', ['rrf', 'dbsf']],
  ['rerank', ['none', 'weighted', 'cross_encoder']],
];
const OPTION_NUMBERS = [['vector_weight', 0, 1], ['similarity_threshold', -1, 1]];
export const OPTION_KEYS = [...OPTION_SELECTS, ...OPTION_NUMBERS].map(([k]) => k);

/**
 * Selectors for search options, each with "Default" (not sent). `read()` gives only the
 * options set away from the default.
 */
export function optionFields(prefix, values = {}) {
  const inputs = {};
  const fields = [];
  const field = (key, input, hint) => h('div', { class: 'field' },
    h('label', { for: input.id, text: t(`opt.${key}`) }), input,
    hint ? h('p', { class: 'hint', text: hint }) : null);
  for (const [key, choices] of OPTION_SELECTS) {
    const sel = h('select', { id: `${prefix}-${key}`, name: key },
      h('option', { value: '', text: t('opt.default') }),
      choices.map((c) => h('option', { value: c, text: t(`opt.${key}.${c}`) })));
    inputs[key] = sel;
    fields.push(field(key, sel));
  }
  for (const [key, min, max] of OPTION_NUMBERS) {
    const input = h('input', {
      id: `${prefix}-${key}`, name: key, type: 'number', min, max, step: 'any', inputmode: 'decimal',
      placeholder: t('opt.default'), autocomplete: 'off',
    });
    inputs[key] = input;
    fields.push(field(key, input, t(`opt.${key}.hint`)));
  }
  const set = (v) => {
    for (const [key, input] of Object.entries(inputs)) input.value = v?.[key] ?? '';
  };
  set(values);
  return {
    el: h('div', { class: 'opt-grid' }, fields),
    read() {
      const out = {};
      for (const [key, input] of Object.entries(inputs)) {
        const v = input.value.trim();
        if (v === '') continue;
        out[key] = input.type === 'number' ? Number(v) : v;
      }
      return out;
    },
    set,
  };
}

/** Checkboxes for `kbs`; `selected` (a Set of ids) follows them. */
export function kbChecklist(name, kbs, selected, onChange) {
  const box = h('div', { class: 'checklist' });
  for (const kb of kbs) {
    const id = `${name}-${kb.id}`;
    const cb = h('input', { type: 'checkbox', id, value: kb.id, checked: selected.has(kb.id) });
    cb.addEventListener('change', () => {
      if (cb.checked) selected.add(kb.id); else selected.delete(kb.id);
      if (onChange) onChange();
    });
    box.append(h('label', { class: 'check', for: id }, cb,
      h('span', null, kb.name, h('span', { class: 'muted small', text: ` (${t('kb.docs', { n: kb.document_count })})` }))));
  }
  return box;
}
