// The chat says clearly when no LLM is configured (extractive answers) and when the
// configured LLM cannot be reached.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { closedPort, launchBrowser, openPage, seedKnowledgeBase, shot, startRagd } from './harness.mjs';

const DOC = `# Photosynthesis

Green plants use sunlight to make sugar from water and carbon dioxide, and release oxygen.
`;

const NO_LLM = { RAGD_LLM_PROVIDER: undefined, RAGD_LLM_BASE_URL: undefined, RAGD_LLM_MODEL: undefined, RAGD_LLM_API_KEY: undefined };

let extractive;
let unreachable;
let browser;
const problems = [];

before(async () => {
  [extractive, unreachable] = await Promise.all([
    startRagd(NO_LLM),
    closedPort().then((port) => startRagd({
      ...NO_LLM, RAGD_LLM_PROVIDER: 'ollama', RAGD_LLM_BASE_URL: `http://127.0.0.1:${port}`, RAGD_LLM_MODEL: 'mock:7b',
    })),
  ]);
  await Promise.all([
    seedKnowledgeBase(extractive.url, 'plants', 'photosynthesis.md', DOC),
    seedKnowledgeBase(unreachable.url, 'plants', 'photosynthesis.md', DOC),
  ]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await extractive?.stop();
  await unreachable?.stop();
});

async function askInChat(url, question) {
  const page = await openPage(browser, problems);
  await page.goto(`${url}/#/chat`);
  await page.getByRole('heading', { level: 1, name: 'Chat' }).waitFor();
  await page.getByLabel('Your question').fill(question);
  await page.getByLabel('Your question').press('Enter');
  await page.locator('.msg.assistant[aria-busy="false"]').waitFor({ timeout: 30_000 });
  return page;
}

test('without an LLM the chat shows extractive passages and says why', async () => {
  const page = await askInChat(extractive.url, 'How do plants make sugar?');
  assert.match(await page.locator('.llm-status').textContent(), /No LLM configured/);
  const notice = page.locator('.msg.assistant .notice.warn');
  assert.match(await notice.textContent(), /No LLM is configured/);
  assert.match(await notice.textContent(), /RAGD_LLM_BASE_URL/, 'the server notice is shown too');
  const answer = page.locator('.msg.assistant .answer');
  assert.match(await answer.textContent(), /photosynthesis\.md/);
  await answer.getByRole('button', { name: 'Show source 1' }).click();
  assert.match(await page.locator('.cite-panel blockquote').textContent(), /sunlight/);
  await shot(page, '20-chat-extractive');
  await page.close();
});

test('an unreachable LLM is reported as such', async () => {
  const page = await askInChat(unreachable.url, 'How do plants make sugar?');
  assert.match(await page.locator('.llm-status').textContent(), /not reachable/);
  const error = page.locator('.msg.assistant .notice.error');
  assert.match(await error.textContent(), /The LLM cannot be reached/);
  await shot(page, '21-chat-llm-unreachable');
  await page.close();
});

test('no console errors in the LLM state pages', () => {
  assert.deepEqual(problems, []);
});
