// The API client: JSON requests to /api/v1, errors as ApiError, and the knowledge base list
// the views share.

import { t } from '../i18n.js';

/** Encodes one path segment. */
export const enc = encodeURIComponent;

let onUnauthorized = () => {};

/** Sets what a 401 (no or stale credentials) does: the sign-in form. */
export function whenUnauthorized(fn) { onUnauthorized = fn; }

/** A request was refused for want of credentials. */
export function unauthorized() { onUnauthorized(); }

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(path, { method = 'GET', body, signal } = {}) {
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      signal,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', t('common.network', { message: e.message }));
  }
  return readResponse(res);
}

/** The JSON body of a response (null for 204); throws ApiError for a status that is not ok. */
export async function readResponse(res) {
  if (res.status === 401) unauthorized();
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    throw new ApiError(res.status, data?.error?.code || `http_${res.status}`,
      data?.error?.message || `${res.status} ${res.statusText}`);
  }
  return data;
}

/** The knowledge bases and the embedding model, as last loaded. */
export let kbCache = { list: [], model: '' };

export async function loadKbs() {
  const data = await api('/knowledge-bases');
  kbCache = {
    list: data.knowledge_bases || [],
    model: data.embedding_model || '',
    presets: data.embedding_presets || [],
  };
  return kbCache;
}
