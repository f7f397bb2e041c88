// Answers render a safe Markdown subset: lists, bold and code become elements, citations
// stay buttons, and HTML from the model stays text.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, openPage, seedKnowledgeBase, shot, startMockLlm, startRagd } from './harness.mjs';

let llm;
let ragd;
let browser;
const problems = [];

before(async () => {
  llm = await startMockLlm();
  ragd = await startRagd({ RAGD_LLM_PROVIDER: 'ollama', RAGD_LLM_BASE_URL: llm.url, RAGD_LLM_MODEL: 'mock:7b' });
  await seedKnowledgeBase(ragd.url, 'plants', 'photosynthesis.md',
    '# Photosynthesis\n\nGreen plants use sunlight to make sugar from water and carbon dioxide.\n');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await ragd?.stop();
  await llm?.close();
});

test('a markdown answer becomes a list with bold, code and a citation button', async () => {
  const page = await openPage(browser, problems);
  await page.goto(`${ragd.url}/#/chat`);
  await page.getByRole('heading', { level: 1, name: 'Chat' }).waitFor();
  await page.getByLabel('Your question').fill('How do plants use sunlight? #md');
  await page.getByLabel('Your question').press('Enter');
  await page.locator('.msg.assistant[aria-busy="false"]').waitFor({ timeout: 30_000 });
  const answer = page.locator('.msg.assistant .answer');
  assert.equal(await answer.locator('ul > li').count(), 2);
  assert.equal(await answer.locator('li strong').textContent(), 'Light');
  assert.equal(await answer.locator('li button.cite').textContent(), '[1]');
  assert.equal(await answer.locator('code').textContent(), 'code');
  assert.equal(await answer.locator('b').count(), 0, 'html from the model is not markup');
  assert.match(await answer.textContent(), /<b>not bold<\/b>/);
  await shot(page, '17-chat-markdown');
  await page.close();
  assert.deepEqual(problems, []);
});
