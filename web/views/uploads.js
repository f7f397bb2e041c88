// Uploads: a queue of files sent a few at a time (XMLHttpRequest, for progress), kept across
// views, with a row per file for the knowledge base page.

import { t } from '../i18n.js';
import { enc, unauthorized } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { fmtBytes } from '../lib/format.js';

export const uploads = []; // {id, kbId, file, status, loaded, message, el}
let uploadSeq = 0;
let activeUploads = 0;
const MAX_PARALLEL_UPLOADS = 3;
export const docListeners = new Set(); // called after an upload finishes, to refresh the list

export function queueFiles(kbId, files) {
  for (const file of files) {
    uploads.push({ id: ++uploadSeq, kbId, file, status: 'waiting', loaded: 0, message: '', el: null });
  }
  pumpUploads();
}

function pumpUploads() {
  while (activeUploads < MAX_PARALLEL_UPLOADS) {
    const item = uploads.find((u) => u.status === 'waiting');
    if (!item) return;
    activeUploads++;
    item.status = 'uploading';
    paintUpload(item);
    sendFile(item).finally(() => {
      activeUploads--;
      paintUpload(item);
      for (const fn of docListeners) fn(item.kbId);
      pumpUploads();
    });
  }
}

/** One request per file, with XMLHttpRequest for upload progress. */
function sendFile(item) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/knowledge-bases/${enc(item.kbId)}/documents`);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) { item.loaded = e.loaded / e.total; paintUpload(item); }
    });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) {
        item.loaded = 1;
        item.status = data?.documents?.[0]?.duplicate ? 'duplicate' : 'done';
      } else {
        if (xhr.status === 401) unauthorized();
        item.status = 'error';
        item.message = data?.error?.message || `${xhr.status} ${xhr.statusText}`;
      }
      resolve();
    });
    xhr.addEventListener('error', () => {
      item.status = 'error';
      item.message = t('common.network', { message: 'upload failed' });
      resolve();
    });
    const fd = new FormData();
    fd.append('file', item.file, item.file.name);
    xhr.send(fd);
  });
}

/** A list item for `item` that its progress and status repaint. */
export function uploadRow(item) {
  const bar = h('progress', { max: 100, value: 0, 'aria-label': item.file.name });
  const status = h('span', { class: 'up-status' });
  const li = h('li', { class: 'upload' },
    h('span', { class: 'up-name', text: item.file.name }),
    h('span', { class: 'up-size muted', text: fmtBytes(item.file.size) }),
    bar, status);
  item.el = { li, bar, status };
  paintUpload(item);
  return li;
}

function paintUpload(item) {
  if (!item.el) return;
  const { li, bar, status } = item.el;
  bar.value = Math.round(item.loaded * 100);
  li.dataset.status = item.status;
  status.className = `up-status ${item.status}`;
  status.textContent = {
    waiting: t('doc.waiting'),
    uploading: t('doc.uploading', { pct: Math.round(item.loaded * 100) }),
    done: t('doc.uploaded'),
    duplicate: t('doc.duplicate'),
    error: t('doc.rejected', { message: item.message }),
  }[item.status];
  if (item.status === 'error') status.setAttribute('role', 'alert');
}
