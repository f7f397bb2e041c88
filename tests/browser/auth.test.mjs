// End-to-end test of signing in to a server with an API key: the real `ragd serve` with
// RAGD_API_KEY, headless Chromium. Screenshots go to test-output/browser/.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, openPage, shot, startRagd } from './harness.mjs';

const KEY = 'ui-test-key-0123456789abcdef';
const READER = 'ui-reader-key-0123456789abcdef';
const bearer = { authorization: `Bearer ${KEY}` };

let ragd;
let browser;
let page;
let docId;
const problems = [];

/** Signs in with `key` on a freshly loaded page (no render of the page before in flight). */
async function signInFresh(key, hash = '#/kbs') {
  await page.goto(`${ragd.url}/?fresh=${Date.now()}${hash}`);
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

before(async () => {
  ragd = await startRagd({ RAGD_API_KEY: KEY, RAGD_API_READER_KEYS: READER });
  const post = await fetch(`${ragd.url}/api/v1/knowledge-bases`, {
    method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'vault' }),
  });
  assert.equal(post.status, 201, await post.clone().text());
  const form = new FormData();
  form.append('file', new Blob(['The spare key hangs behind the blue door.'], { type: 'text/plain' }), 'keys.txt');
  const up = await fetch(`${ragd.url}/api/v1/knowledge-bases/vault/documents`, { method: 'POST', headers: bearer, body: form });
  assert.equal(up.status, 202, await up.clone().text());
  docId = (await up.json()).documents[0].id;
  browser = await launchBrowser();
  page = await openPage(browser, problems, { first: true });
});

after(async () => {
  await browser?.close();
  await ragd?.stop();
});

test('web UI: signing in with an API key', async (t) => {
  await t.test('a visitor without the key sees the sign-in form, not the data', async () => {
    await page.goto(`${ragd.url}/#/kbs`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'API keys' }).isVisible(), false);
    assert.equal(await page.getByText('vault').count(), 0);
    assert.equal(await page.locator('#signout').isVisible(), false);
    await shot(page, 'auth-sign-in');
  });

  await t.test('a wrong key is refused with a message', async () => {
    await page.getByLabel('API key').fill('not-the-key-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'That API key is not right.' }).waitFor();
  });

  await t.test('the right key opens the knowledge bases, downloads included', async () => {
    await page.getByLabel('API key').fill(KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Knowledge bases' }).waitFor();
    await page.getByRole('link', { name: 'vault' }).first().waitFor();
    await page.locator('#signout').waitFor({ state: 'visible' });
    // The session is a cookie the page cannot read (HttpOnly), and plain links carry it.
    assert.equal(await page.evaluate(() => document.cookie), '');
    const file = await page.request.get(`${ragd.url}/api/v1/knowledge-bases/vault/documents/${docId}/file`);
    assert.equal(file.status(), 200);
    assert.match(await file.text(), /blue door/);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Knowledge bases' }).waitFor();
    await shot(page, 'auth-signed-in');
  });

  await t.test('signing out asks for the key again, also after a reload', async () => {
    await page.locator('#signout').click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    const file = await page.request.get(`${ragd.url}/api/v1/knowledge-bases/vault/documents/${docId}/file`);
    assert.equal(file.status(), 401);
  });

  await t.test('a reader key reads but may not change anything', async () => {
    await page.getByLabel('API key').fill(READER);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'vault' }).first().waitFor();
    // The controls that change data are hidden, and the server refuses such requests anyway.
    assert.equal(await page.getByRole('button', { name: 'Create' }).isVisible(), false);
    assert.equal(await page.getByRole('button', { name: /^Delete/ }).first().isVisible(), false);
    const refused = await page.evaluate(async () => {
      const r = await fetch('/api/v1/knowledge-bases', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x' }),
      });
      return { status: r.status, body: await r.json() };
    });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.message, 'this api key may only read, search and ask');
    await page.getByRole('link', { name: 'vault' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'vault' }).waitFor();
    await page.locator('tr[data-id]').first().waitFor();
    assert.equal(await page.locator('#dropzone').isVisible(), false);
    assert.equal(await page.getByRole('button', { name: 'Re-parse' }).first().isVisible(), false);
    await page.goto(`${ragd.url}/#/system`);
    await page.getByText('Backups are for admin keys').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Back up now' }).isVisible(), false);
    assert.equal(await page.getByRole('link', { name: 'API keys' }).isVisible(), false);
    await page.locator('#signout').click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  });

  let secret;
  await t.test('the admin makes a key limited to one knowledge base; its secret shows once', async () => {
    // A second knowledge base the new key must not see.
    const post = await fetch(`${ragd.url}/api/v1/knowledge-bases`, {
      method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'attic' }),
    });
    assert.equal(post.status, 201);
    await signInFresh(KEY);
    await page.locator('#signout').waitFor({ state: 'visible' });
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
    await page.getByText('No keys made yet.').waitFor();
    await page.getByLabel('Name').fill('wiki bot');
    await page.getByLabel('Role').selectOption('reader');
    await page.getByRole('checkbox', { name: /vault/ }).check();
    await page.getByRole('button', { name: 'Create key' }).click();
    const code = page.locator('#new-secret');
    await code.waitFor();
    secret = (await code.textContent()).trim();
    assert.match(secret, /^ragd_[0-9a-f]{64}$/);
    await page.getByText('it is shown this once').waitFor();
    const row = page.locator('table.keys tbody tr').first();
    assert.match(await row.textContent(), /wiki bot.*reader.*vault.*active/s);
    await shot(page, 'keys-made');
    // Drawn again, the page no longer has it.
    await page.reload();
    await page.locator('table.keys tbody tr').first().waitFor();
    assert.equal(await page.locator('#new-secret').count(), 0);
    assert.equal(await page.getByText(secret).count(), 0);
    await page.locator('#signout').click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  });

  await t.test('the new key signs in and sees its knowledge base only, until it is revoked', async () => {
    await signInFresh(secret, '#/keys');
    // The keys page is not this key's.
    await page.getByText('Keys are managed by an admin').waitFor();
    await page.goto(`${ragd.url}/#/kbs`);
    await page.getByRole('link', { name: 'vault' }).first().waitFor();
    assert.equal(await page.getByRole('link', { name: 'attic' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'API keys' }).isVisible(), false);
    // Revoked elsewhere (by the admin's API call): this session ends at its next request.
    const list = await (await fetch(`${ragd.url}/api/v1/keys`, { headers: bearer })).json();
    const id = list.keys.find((k) => k.name === 'wiki bot').id;
    const del = await fetch(`${ragd.url}/api/v1/keys/${id}`, { method: 'DELETE', headers: bearer });
    assert.equal(del.status, 200);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByLabel('API key').fill(secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'That API key is not right.' }).waitFor();
  });

  await t.test('the admin revokes a key from the page', async () => {
    const made = await fetch(`${ragd.url}/api/v1/keys`, {
      method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'old laptop', role: 'editor' }),
    });
    assert.equal(made.status, 201);
    await signInFresh(KEY, '#/keys');
    await page.locator('#signout').waitFor({ state: 'visible' });
    const row = page.locator('table.keys tbody tr', { hasText: 'old laptop' });
    await row.getByRole('button', { name: 'Revoke old laptop' }).click();
    await page.locator('#confirm-ok').click();
    await page.getByText('Key "old laptop" revoked.').waitFor();
    await page.locator('table.keys tbody tr[data-status="revoked"]', { hasText: 'old laptop' }).waitFor();
    await shot(page, 'keys-revoked');
    await page.locator('#signout').click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  });

  await t.test('no errors in the console but the refused requests', async () => {
    const unexpected = problems.filter((p) => !/status of 40[13]/.test(p));
    assert.deepEqual(unexpected, []);
  });
});
