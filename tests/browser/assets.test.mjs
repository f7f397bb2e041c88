// The web UI stays small: every file under web/, gzipped, is at most 300 KB in total, and
// each is one the server embeds (server/src/web.rs, ASSETS).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import zlib from 'node:zlib';

import { ROOT } from './harness.mjs';

const WEB = path.join(ROOT, 'web');
const LIMIT = 300 * 1024;

test('web assets are at most 300 KB gzipped in total', () => {
  let total = 0;
  const sizes = {};
  for (const name of fs.readdirSync(WEB)) {
    const file = path.join(WEB, name);
    if (!fs.statSync(file).isFile()) continue;
    const gz = zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
    sizes[name] = gz;
    total += gz;
  }
  console.log(`web/ gzipped: ${total} bytes`, sizes);
  assert.ok(total <= LIMIT, `web/ is ${total} bytes gzipped, over ${LIMIT}`);
});

test('every web file is embedded by the server', () => {
  const rs = fs.readFileSync(path.join(ROOT, 'server', 'src', 'web.rs'), 'utf8');
  const embedded = new Set([...rs.matchAll(/include_bytes!\("\.\.\/\.\.\/web\/([^"]+)"\)/g)].map((m) => m[1]));
  for (const name of fs.readdirSync(WEB)) {
    if (fs.statSync(path.join(WEB, name)).isFile()) assert.ok(embedded.has(name), `web/${name} is not in ASSETS`);
  }
});
