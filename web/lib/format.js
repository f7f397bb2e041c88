// Numbers, sizes, dates and durations as shown in the UI, in the UI's language.

import { getLang, t } from '../i18n.js';

export function fmtBytes(n) {
  if (n == null) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function fmtDate(s) {
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s || '';
  return new Intl.DateTimeFormat(getLang() === 'zh' ? 'zh-CN' : 'en', {
    dateStyle: 'medium', timeStyle: 'short',
  }).format(d);
}

export function fmtScore(v) {
  if (v == null) return t('search.none');
  const a = Math.abs(v);
  return a !== 0 && a < 0.1 ? v.toFixed(4) : v.toFixed(3);
}

export function fmtDuration(ms) {
  if (ms == null) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** A time like 2026-11-28T12:00:00+08:00[Asia/Shanghai], shown in `timeZone`. */
export function fmtDateIn(s, timeZone) {
  const d = new Date(String(s || '').replace(/\[.*\]$/, ''));
  if (Number.isNaN(d.getTime())) return s || '';
  const opts = { dateStyle: 'medium', timeStyle: 'short' };
  const locale = getLang() === 'zh' ? 'zh-CN' : 'en';
  try { return new Intl.DateTimeFormat(locale, { ...opts, timeZone }).format(d); } catch { return fmtDate(d); }
}

/** The browser's time zone (IANA name), UTC when it has none. */
export function browserTimeZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
}
