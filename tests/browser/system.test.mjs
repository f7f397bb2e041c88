// End-to-end test of the System page: index figures and maintenance, backups taken from the
// browser. The real `ragd serve`, headless Chromium; screenshots go to test-output/browser/.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, openPage, seedKnowledgeBase, shot, startRagd } from './harness.mjs';

let ragd;
let browser;
let page;
const problems = [];

before(async () => {
  ragd = await startRagd({ RAGD_INDEX_OPTIMIZE_IDLE_SECS: '1' });
  await seedKnowledgeBase(ragd.url, 'plants', 'photosynthesis.md',
    '# Photosynthesis\n\nGreen plants use sunlight to make sugar from water and carbon dioxide.\n');
  browser = await launchBrowser();
  page = await openPage(browser, problems, { first: true });
});

after(async () => {
  await browser?.close();
  await ragd?.stop();
});

test('web UI: the System page', async (t) => {
  await t.test('shows the index and its last optimization', async () => {
    await page.goto(`${ragd.url}/#/system`);
    await page.getByRole('heading', { level: 1, name: 'System' }).waitFor();
    await page.getByRole('link', { name: 'System' }).and(page.locator('[aria-current="page"]')).waitFor();
    assert.equal(await page.locator('dd[data-k="points"]').textContent(), '1');
    // The maintenance pass runs within seconds of an idle queue; a reload shows it.
    const deadline = Date.now() + 30_000;
    while ((await (await fetch(`${ragd.url}/api/v1/index`)).json()).optimize.runs === 0) {
      assert.ok(Date.now() < deadline, 'no optimization pass within 30 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    await page.reload();
    await page.locator('dd[data-k="optimized"]').filter({ hasText: / ms / }).waitFor();
    assert.equal(await page.locator('dd[data-k="pending"]').textContent(), '0');
  });

  await t.test('takes a backup and lists it', async () => {
    await page.getByText('No backups yet.').waitFor();
    await page.getByRole('button', { name: 'Back up now' }).click();
    await page.locator('.backup-list tr[data-name^="backup-"]').waitFor();
    await page.locator('.toast').filter({ hasText: 'Backup written to' }).waitFor();
    const listed = await (await fetch(`${ragd.url}/api/v1/backups`)).json();
    assert.equal(listed.backups.length, 1);
    assert.equal(await page.locator('.backup-list tr[data-name] .name').textContent(), listed.backups[0].name);
    await page.evaluate(() => document.getElementById('toasts').replaceChildren());
    await shot(page, 'system');
  });

  await t.test('fits a phone screen, in Chinese too', async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'System' }).waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    await page.locator('#lang').selectOption('zh');
    await page.getByRole('heading', { level: 1, name: '系统' }).waitFor();
    await page.getByRole('button', { name: '立即备份' }).waitFor();
    await shot(page, 'system-mobile-zh');
    await page.locator('#lang').selectOption('en');
  });

  await t.test('no console errors', () => {
    assert.deepEqual(problems, []);
  });
});
