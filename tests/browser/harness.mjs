// Test harness: a mock Ollama server, the real `ragd serve`, and headless Chromium.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHOTS = path.join(ROOT, 'test-output', 'browser');

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

export const REWRITE = 'How do plants use sunlight?';

/**
 * A mock LLM speaking Ollama's /api/chat: streamed NDJSON for `stream: true`, one JSON object
 * otherwise (query rewriting). A last user message containing `#fail` gets HTTP 500, one
 * containing `#md` a Markdown answer.
 */
export async function startMockLlm() {
  const requests = [];
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', async () => {
      if (req.method === 'GET' && req.url === '/api/version') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ version: '0.0.0-mock' }));
        return;
      }
      if (req.method === 'POST' && req.url === '/api/show') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ details: { parameter_size: '7.6B', quantization_level: 'Q4_K_M' } }));
        return;
      }
      if (req.method !== 'POST' || req.url !== '/api/chat') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'not found' }));
        return;
      }
      let json;
      try { json = JSON.parse(body); } catch { res.writeHead(400); res.end(); return; }
      requests.push(json);
      if (json.stream === false) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ model: 'mock:7b', message: { role: 'assistant', content: REWRITE }, done: true }));
        return;
      }
      const lastUser = [...(json.messages || [])].reverse().find((m) => m.role === 'user')?.content || '';
      if (lastUser.includes('#fail')) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'mock model crashed' }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const pieces = lastUser.includes('#md')
        ? ['Two steps:\n\n- **Light** is ', 'absorbed [1]\n- water is split\n\n', '<b>not bold</b> and `code`']
        : ['<thi', 'nk>thinking about', ' plants</think>', 'Plants use ', 'sunlight ', '[1]', '.'];
      for (const p of pieces) {
        res.write(`${JSON.stringify({ model: 'mock:7b', message: { role: 'assistant', content: p }, done: false })}\n`);
        await sleep(120);
      }
      res.end(`${JSON.stringify({ model: 'mock:7b', message: { role: 'assistant', content: '' }, done: true, prompt_eval_count: 1, eval_count: 1 })}\n`);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
  };
}

function ragdBinary() {
  if (process.env.RAGD_BIN) return process.env.RAGD_BIN;
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
  return path.join(target, 'debug', 'ragd');
}

/**
 * Starts `ragd serve` on a free port with a fresh data folder; resolves with its URL.
 * `env` adds variables; one set to `undefined` is removed.
 */
export async function startRagd(env = {}) {
  const bin = ragdBinary();
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run \`cargo build --bin ragd\` first`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragd-ui-test-'));
  const dataDir = path.join(dir, 'data');
  const childEnv = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn', ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const child = spawn(bin, ['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    cwd: dir, // no ragd.toml from the repository
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ragd did not start in 90 s:\n${log}`)), 90_000);
    const onData = (chunk) => {
      log += chunk;
      const m = /ragd listening on (http:\/\/\S+)/.exec(log);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`ragd exited with ${code}:\n${log}`)); });
  });
  return {
    url,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Headless Chromium with a fresh profile. */
export async function launchBrowser({ locale = 'en-US', viewport = { width: 1280, height: 860 } } = {}) {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ragd-ui-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    locale,
    viewport,
    acceptDownloads: true,
  });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A page of `browser` with a 20 s default timeout whose console errors go to `problems`:
 * the window the browser opened with (`first`), else a new one.
 */
export async function openPage(browser, problems, { first = false } = {}) {
  const page = (first && browser.context.pages()[0]) || await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  watchConsole(page, problems);
  return page;
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchConsole(page, into) {
  page.on('console', (m) => { if (m.type() === 'error') into.push(`console: ${m.text()} (${m.location()?.url || ''})`); });
  page.on('pageerror', (e) => into.push(`pageerror: ${e.message}`));
}

export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0)); // the sticky header stays on top
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** A port nothing listens on (bound, then released). */
export async function closedPort() {
  const server = http.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** Creates a knowledge base through the API, uploads one Markdown file, waits until ready. */
export async function seedKnowledgeBase(url, name, fileName, text) {
  const post = await fetch(`${url}/api/v1/knowledge-bases`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }),
  });
  if (post.status !== 201) throw new Error(`create: ${post.status} ${await post.text()}`);
  const form = new FormData();
  form.append('file', new Blob([text], { type: 'text/markdown' }), fileName);
  const up = await fetch(`${url}/api/v1/knowledge-bases/${name}/documents`, { method: 'POST', body: form });
  if (up.status !== 202) throw new Error(`upload: ${up.status} ${await up.text()}`);
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const { documents } = await (await fetch(`${url}/api/v1/knowledge-bases/${name}/documents`)).json();
    if (documents.every((d) => d.status === 'ready')) return;
    if (documents.some((d) => d.status === 'failed')) throw new Error(`ingest failed: ${JSON.stringify(documents)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('documents not ready in 90 s');
}
