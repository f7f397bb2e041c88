// Hits and citations from a page (PDFs and OCR'd images) can show the page image with the
// passage's lines highlighted where the text is on the page.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launchBrowser, openPage, shot, startMockLlm, startRagd } from './harness.mjs';

const LINES = ['Amber foxes leap over fences', 'Blue whales sing beneath glaciers', 'Copper kettles whistle at dawn'];
const PHRASE = 'whales sing beneath glaciers';

let llm;
let ragd;
let browser;
let tmp;
const problems = [];

/** A PNG of `lines` drawn by HarfBuzz, black on white. */
function drawPng(lines) {
  const out = path.join(tmp, 'note.png');
  execFileSync('hb-view', ['--font-size=40', '--margin=48', '-O', 'png', '-o', out,
    '/usr/share/fonts/truetype/wqy/wqy-microhei.ttc', lines.join('\n')]);
  return fs.readFileSync(out);
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ragd-page-view-'));
  llm = await startMockLlm();
  ragd = await startRagd({ RAGD_LLM_PROVIDER: 'ollama', RAGD_LLM_BASE_URL: llm.url, RAGD_LLM_MODEL: 'mock:7b' });
  const post = await fetch(`${ragd.url}/api/v1/knowledge-bases`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'scans' }),
  });
  assert.equal(post.status, 201, await post.text());
  const form = new FormData();
  form.append('file', new Blob([drawPng(LINES)], { type: 'image/png' }), 'note.png');
  const up = await fetch(`${ragd.url}/api/v1/knowledge-bases/scans/documents`, { method: 'POST', body: form });
  assert.equal(up.status, 202, await up.text());
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { documents } = await (await fetch(`${ragd.url}/api/v1/knowledge-bases/scans/documents`)).json();
    if (documents.every((d) => d.status === 'ready')) break;
    if (documents.some((d) => d.status === 'failed')) throw new Error(`ingest failed: ${JSON.stringify(documents)}`);
    if (Date.now() > deadline) throw new Error('the image was not ready in 120 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await ragd?.stop();
  await llm?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The hit for PHRASE from the API, and the box of the line holding it. */
async function apiLineBox() {
  const res = await fetch(`${ragd.url}/api/v1/search`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ knowledge_bases: ['scans'], query: PHRASE }),
  });
  const hit = (await res.json()).hits[0];
  assert.equal(hit.page, 1);
  const lines = hit.text.split('\n');
  const line = lines.findIndex((l) => l.toLowerCase().includes(PHRASE));
  assert.ok(line >= 0, `OCR read the phrase: ${JSON.stringify(hit.text)}`);
  assert.equal(hit.boxes?.length, lines.length, `a box per line: ${JSON.stringify(hit.boxes)}`);
  return { hit, line, box: hit.boxes[line] };
}

/**
 * Checks the open page view in `scope`: the image loaded, one mark per box, each mark where its
 * box says (within 2 % of the image), and the line's box on the second band of ink in the image.
 */
async function checkPageView(scope, { boxes }, line) {
  const img = scope.locator('.page-view img');
  await img.waitFor();
  await scope.page().waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
  assert.ok(await img.evaluate((el) => el.naturalWidth) > 0, 'the page image loaded');
  assert.match(await img.getAttribute('alt'), /Page 1 of note\.png/);
  const marks = scope.locator('.page-view .page-mark');
  assert.ok(await marks.count() >= 1, 'at least one highlight');
  assert.equal(await marks.count(), boxes.length);
  const frame = await img.boundingBox();
  for (let i = 0; i < boxes.length; i++) {
    const r = await marks.nth(i).boundingBox();
    const got = {
      x0: (r.x - frame.x) / frame.width, y0: (r.y - frame.y) / frame.height,
      x1: (r.x + r.width - frame.x) / frame.width, y1: (r.y + r.height - frame.y) / frame.height,
    };
    for (const k of ['x0', 'y0', 'x1', 'y1']) {
      assert.ok(Math.abs(got[k] - boxes[i][k]) <= 0.02, `mark ${i} ${k}: drawn ${got[k].toFixed(4)}, box ${boxes[i][k]}`);
    }
  }
  // Where the lines really are: the bands of rows with dark pixels in the image itself.
  const bands = await img.evaluate((el) => {
    const c = document.createElement('canvas');
    c.width = el.naturalWidth;
    c.height = el.naturalHeight;
    const g = c.getContext('2d');
    g.drawImage(el, 0, 0);
    const { data } = g.getImageData(0, 0, c.width, c.height);
    const out = [];
    let start = -1;
    for (let y = 0; y <= c.height; y++) {
      let ink = false;
      for (let x = 0; y < c.height && x < c.width && !ink; x++) ink = data[(y * c.width + x) * 4] < 128;
      if (ink && start < 0) start = y;
      if (!ink && start >= 0) { out.push([start / c.height, y / c.height]); start = -1; }
    }
    return out;
  });
  assert.equal(bands.length, LINES.length, `three lines of ink: ${JSON.stringify(bands)}`);
  const [top, bottom] = bands[line];
  const box = boxes[line];
  assert.ok(box.y0 > 1 / 4 && box.y1 < 3 / 4, `the searched line is in the middle of the page: ${JSON.stringify(box)}`);
  const mid = (box.y0 + box.y1) / 2;
  assert.ok(mid > top && mid < bottom, `the box (${box.y0}–${box.y1}) is on the line's ink (${top.toFixed(3)}–${bottom.toFixed(3)})`);
  assert.ok(Math.abs(box.y0 - top) < 0.06 && Math.abs(box.y1 - bottom) < 0.06, 'and about as tall');
}

test('a search hit shows its page with the searched line highlighted', async () => {
  const { hit, line } = await apiLineBox();
  const page = await openPage(browser, problems);
  await page.goto(`${ragd.url}/#/search`);
  await page.getByRole('heading', { level: 1, name: 'Retrieval test' }).waitFor();
  await page.getByLabel('Query').fill(PHRASE);
  await page.getByRole('button', { name: 'Search' }).click();
  const first = page.locator('li.hit').first();
  await first.waitFor();
  assert.equal(await first.locator('.page-view img').count(), 0, 'no image before it is asked for');
  const button = first.getByRole('button', { name: 'Show page 1' });
  assert.equal(await button.getAttribute('aria-expanded'), 'false');
  await button.focus();
  await page.keyboard.press('Enter'); // the keyboard opens it
  const open = first.getByRole('button', { name: 'Hide page 1' });
  assert.equal(await open.getAttribute('aria-expanded'), 'true');
  assert.equal(await open.getAttribute('aria-controls'), await first.locator('.page-view').getAttribute('id'));
  await checkPageView(first, hit, line);
  await shot(page, '30-search-page-view');
  await page.keyboard.press('Space');
  assert.equal(await first.locator('.page-toggle').getAttribute('aria-expanded'), 'false');
  assert.ok(await first.locator('.page-view').isHidden(), 'closed again');
  await page.close();
});

test('a citation shows its page with the cited lines highlighted', async () => {
  const { hit, line } = await apiLineBox();
  const page = await openPage(browser, problems);
  await page.goto(`${ragd.url}/#/chat`);
  await page.getByRole('heading', { level: 1, name: 'Chat' }).waitFor();
  await page.getByLabel('Your question').fill(`Where do ${PHRASE.split(' ')[0]} sing?`);
  await page.getByLabel('Your question').press('Enter');
  await page.locator('.msg.assistant[aria-busy="false"]').waitFor({ timeout: 30_000 });
  await page.locator('.msg.assistant .answer').getByRole('button', { name: 'Show source 1' }).click();
  const panel = page.locator('.cite-panel');
  assert.match(await panel.locator('blockquote').textContent(), /whales/);
  await panel.getByRole('button', { name: 'Show page 1' }).click();
  assert.equal(await panel.locator('.page-toggle').getAttribute('aria-expanded'), 'true');
  await checkPageView(panel, hit, line);
  await shot(page, '31-chat-page-view');
  await page.close();
});

test('no console errors with page views', () => {
  assert.deepEqual(problems, []);
});
