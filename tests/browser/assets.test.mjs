// The web UI stays small: every file under web/ (subfolders included), gzipped, is at most
// 300 KB in total, and the server embeds each one (server/build.rs lists them) and serves it
// under /ui/ with its content type and the UI's security headers.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import zlib from 'node:zlib';

import { ROOT, startRagd } from './harness.mjs';

const WEB = path.join(ROOT, 'web');
const LIMIT = 300 * 1024;

/** Paths under web/ ('/' separators) of its files, hidden ones left out as build.rs does. */
function webFiles(dir = WEB, prefix = '') {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const rel = prefix + entry.name;
    if (entry.isDirectory()) out.push(...webFiles(path.join(dir, entry.name), `${rel}/`));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort();
}

const TYPES = { html: 'text/html', js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml' };

test('web assets are at most 300 KB gzipped in total', () => {
  let total = 0;
  const sizes = {};
  for (const name of webFiles()) {
    const gz = zlib.gzipSync(fs.readFileSync(path.join(WEB, name)), { level: 9 }).length;
    sizes[name] = gz;
    total += gz;
  }
  console.log(`web/ gzipped: ${total} bytes`, sizes);
  assert.ok(total <= LIMIT, `web/ is ${total} bytes gzipped, over ${LIMIT}`);
});

test('every web file is embedded by the server', async () => {
  const ragd = await startRagd({ RAGD_WEB_DIR: undefined });
  try {
    for (const name of webFiles()) {
      const res = await fetch(`${ragd.url}/ui/${name}`);
      assert.equal(res.status, 200, `web/${name} is not served at /ui/${name}`);
      const type = TYPES[name.split('.').pop()];
      if (type) assert.ok(res.headers.get('content-type').startsWith(type), `web/${name}: ${res.headers.get('content-type')}`);
      assert.match(res.headers.get('content-security-policy'), /script-src 'self'/, `web/${name}`);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(fs.readFileSync(path.join(WEB, name))),
        `the embedded web/${name} is not the file: rebuild ragd`);
    }
    assert.equal((await fetch(`${ragd.url}/ui/no-such-file.js`)).status, 404);
  } finally {
    await ragd.stop();
  }
});
