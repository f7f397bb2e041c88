// End-to-end tests of the web UI: the real `ragd serve`, a mock Ollama, headless Chromium.
// Screenshots of each step go to test-output/browser/.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { launchBrowser, openPage, shot, startMockLlm, startRagd, watchConsole } from './harness.mjs';

const PHOTOSYNTHESIS = `# Photosynthesis

Photosynthesis is how green plants use sunlight to make sugar from water and carbon dioxide.
It happens in the chloroplasts of leaf cells and releases oxygen as a by-product.

## Light reactions

Chlorophyll absorbs sunlight, mostly red and blue light, and reflects green light, which is
why leaves look green. The captured energy splits water molecules and produces ATP and NADPH.

## Calvin cycle

In the stroma, the enzyme RuBisCO fixes carbon dioxide. Using ATP and NADPH from the light
reactions, the cycle builds glucose, the sugar that feeds the plant.
`;

const NOTES = `Sourdough baking notes

Feed the starter twice a day with equal weights of flour and water.
Bake the loaf in a preheated Dutch oven at 250 degrees for twenty minutes with the lid on,
then twenty more minutes without the lid until the crust is deep brown.
`;

const SYSTEM_PROMPT = 'You are a botany tutor. Answer only from the numbered sources and cite them as [n].';

// A GIF signature and a little more: a file type ragd does not accept (PNG, JPEG, TIFF and
// WebP images are read by OCR).
const GIF = Buffer.from([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0]);

let llm;
let ragd;
let browser;
let page;
const problems = [];

before(async () => {
  llm = await startMockLlm();
  ragd = await startRagd({
    RAGD_LLM_PROVIDER: 'ollama',
    RAGD_LLM_BASE_URL: llm.url,
    RAGD_LLM_MODEL: 'mock:7b',
  });
  browser = await launchBrowser();
  page = await openPage(browser, problems, { first: true });
});

after(async () => {
  await browser?.close();
  await ragd?.stop();
  await llm?.close();
});

test('web UI: knowledge base, uploads, chunks, retrieval, chat, languages', async (t) => {
  await t.test('loads in English with no knowledge bases', async () => {
    await page.goto(ragd.url);
    await page.getByRole('heading', { level: 1, name: 'Knowledge bases' }).waitFor();
    await page.getByText('No knowledge bases yet').waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'en');
    const preset = page.getByLabel('Embedding model');
    assert.match(await preset.locator('option').first().textContent(), /minilm.*server default/i, 'the default embedding model is offered');
    assert.equal(await preset.inputValue(), 'default');
    await shot(page, '01-empty');
  });

  await t.test('creates a knowledge base', async () => {
    await page.getByLabel('Name', { exact: true }).fill('botany');
    await page.getByLabel('Description').fill('Notes about plants');
    await page.getByLabel('Chunk size (tokens)').fill('64');
    await page.getByLabel('Chunk overlap (tokens)').fill('8');
    assert.equal(await page.getByLabel('Chunk template').inputValue(), 'general');
    await page.getByLabel('OCR languages').fill('eng, chi_sim');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { level: 1, name: 'botany' }).waitFor();
    await page.getByText('Chunks of 64 tokens, 8 overlap').waitFor();
    const made = await (await page.request.get(`${ragd.url}/api/v1/knowledge-bases/botany`)).json();
    assert.equal(made.chunk_template, 'general');
    assert.equal(made.ocr_languages, 'eng+chi_sim');
    assert.match(await page.locator('.page-head .meta').textContent(), /Embedding model: local:all-minilm-l6-v2-int8-dynamic \(384\)/);
    assert.match(page.url(), /#\/kb\//);
  });

  await t.test('uploads two files with the file picker and shows them until ready', async () => {
    await page.setInputFiles('#file-input', [
      { name: 'photosynthesis.md', mimeType: 'text/markdown', buffer: Buffer.from(PHOTOSYNTHESIS) },
      { name: 'sourdough.txt', mimeType: 'text/plain', buffer: Buffer.from(NOTES) },
    ]);
    await page.locator('.upload').nth(1).waitFor();
    assert.equal(await page.locator('.upload').count(), 2, 'one progress row per file');
    await page.locator('.upload[data-status="done"]').nth(1).waitFor();
    await page.locator('tr[data-id]').nth(1).waitFor();
    await shot(page, '02-uploading');
    await page.waitForFunction(() => document.querySelectorAll('tr[data-status="ready"]').length === 2, null, { timeout: 90_000 });
    const row = page.locator('tr', { hasText: 'photosynthesis.md' });
    assert.equal(await row.locator('.badge').textContent(), 'Ready');
    assert.ok(Number(await row.locator('td').nth(2).textContent()) >= 2, 'chunk count shown');
    await shot(page, '03-ready');
  });

  await t.test('drag-and-drop of an unsupported file shows the server reason', async () => {
    const dataTransfer = await page.evaluateHandle((bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], 'diagram.gif', { type: 'image/gif' }));
      return dt;
    }, [...GIF]);
    await page.dispatchEvent('#dropzone', 'dragenter', { dataTransfer });
    await page.dispatchEvent('#dropzone', 'drop', { dataTransfer });
    const rejected = page.locator('.upload[data-status="error"]');
    await rejected.waitFor();
    assert.match(await rejected.textContent(), /diagram\.gif.*unsupported file format/i);
    await shot(page, '04-rejected-gif');
  });

  await t.test('re-parse and download a document', async () => {
    const row = page.locator('tr', { hasText: 'sourdough.txt' });
    const href = await row.getByRole('link', { name: 'Download' }).getAttribute('href');
    const file = await page.request.get(new URL(href, ragd.url).toString());
    assert.equal(file.status(), 200);
    assert.match(await file.text(), /Sourdough baking notes/);
    await row.getByRole('button', { name: 'Re-parse' }).click();
    await page.waitForFunction(() => document.querySelectorAll('tr[data-status="ready"]').length === 2, null, { timeout: 60_000 });
  });

  await t.test('chunk viewer lists chunks with heading paths and filters them', async () => {
    await page.locator('tr', { hasText: 'photosynthesis.md' }).getByRole('link', { name: 'Chunks' }).click();
    await page.getByRole('heading', { level: 1, name: 'Chunks of “photosynthesis.md”' }).waitFor();
    const all = await page.locator('li.chunk').count();
    assert.ok(all >= 2, `several chunks (${all})`);
    assert.match(await page.locator('.chunks').textContent(), /Photosynthesis › Light reactions/);
    await page.getByLabel('Filter chunks').fill('rubisco');
    await page.waitForFunction(() => document.querySelectorAll('li.chunk').length === 1);
    assert.equal((await page.locator('li.chunk mark').first().textContent()).toLowerCase(), 'rubisco');
    assert.match(await page.getByText(/^1 of \d+ chunks$/).textContent(), new RegExp(`of ${all} chunks`));
    await shot(page, '05-chunks-filtered');
  });

  await t.test('retrieval test shows scores and highlights query terms', async () => {
    await page.getByRole('link', { name: 'Retrieval test' }).click();
    await page.getByRole('heading', { level: 1, name: 'Retrieval test' }).waitFor();
    assert.ok(await page.getByRole('checkbox', { name: /botany/ }).isChecked(), 'the knowledge base is selected');
    await page.getByLabel('Query').fill('How do plants use sunlight?');
    await page.getByLabel('Top k').fill('3');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('li.hit').first().waitFor();
    const hits = await page.locator('li.hit').count();
    assert.ok(hits >= 1 && hits <= 3, `1 to 3 hits (${hits})`);
    const first = page.locator('li.hit').first();
    assert.match(await first.locator('.doc').textContent(), /photosynthesis\.md/);
    for (const k of ['dense', 'sparse', 'fused']) await first.locator(`.score.${k} .v`).waitFor();
    assert.match(await first.locator('.score.fused .v').textContent(), /^\d+\.\d+$/);
    const marks = (await first.locator('mark').allTextContents()).map((m) => m.toLowerCase());
    assert.ok(marks.includes('sunlight'), `query terms highlighted: ${marks}`);
    // Explain: ranks in both branches and the matched BM25 terms as chips.
    assert.match(await first.locator('.score.dense .rank').textContent(), /^#\d+$/, 'dense rank shown');
    assert.match(await first.locator('.score.sparse .rank').textContent(), /^#\d+$/, 'BM25 rank shown');
    assert.match(await first.locator('.score.sparse .k').textContent(), /BM25/);
    const chip = first.locator('.matched .term', { hasText: /^sunlight$/ });
    assert.ok(await chip.isVisible(), 'the matched term "sunlight" is a visible chip');
    assert.equal(await page.locator('.score.rerank').count(), 0, 'no rerank score without a reranker');
    await shot(page, '06-retrieval');
  });

  await t.test('a hit no BM25 term matched says so', async () => {
    await page.getByLabel('Query').fill('xylophone quasar');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('li.hit .no-terms').first().waitFor();
    assert.equal(await page.locator('li.hit .no-terms').first().textContent(), 'no BM25 term matched');
    assert.equal(await page.locator('li.hit .term').count(), 0);
  });

  await t.test('weighted rerank shows rerank scores', async () => {
    await page.getByLabel('Query').fill('How do plants use sunlight?');
    await page.getByText('Advanced', { exact: true }).click();
    await page.getByLabel('Rerank').selectOption('weighted');
    await page.getByLabel('Vector weight').fill('0.5');
    const request = page.waitForRequest((r) => r.url().endsWith('/api/v1/search'));
    await page.getByRole('button', { name: 'Search' }).click();
    const body = JSON.parse((await request).postData());
    assert.equal(body.explain, true);
    assert.equal(body.rerank, 'weighted');
    assert.equal(body.vector_weight, 0.5);
    assert.ok(!('mode' in body) && !('fusion' in body) && !('similarity_threshold' in body), `only changed options are sent: ${JSON.stringify(body)}`);
    const first = page.locator('li.hit').first();
    await first.locator('.score.rerank .v').waitFor();
    assert.match(await first.locator('.score.rerank .v').textContent(), /^-?\d+\.\d+$/);
    assert.equal(await page.locator('li.hit .score.rerank').count(), await page.locator('li.hit').count(), 'every hit has a rerank score');
    await shot(page, '06b-retrieval-weighted');
  });

  await t.test('a cross-encoder rerank without one configured shows the server error', async () => {
    await page.getByLabel('Rerank').selectOption('cross_encoder');
    await page.getByRole('button', { name: 'Search' }).click();
    const error = page.locator('.results .notice.error');
    await error.waitFor();
    assert.match(await error.textContent(), /no cross-encoder is configured/);
    assert.equal(await page.locator('li.hit').count(), 0);
    await shot(page, '06c-retrieval-cross-encoder');
    await page.getByLabel('Rerank').selectOption('');
    await page.getByLabel('Vector weight').fill('');
  });

  await t.test('keyboard only: reach the query box and search with Tab and Enter', async () => {
    await page.goto(`${ragd.url}/`);
    await page.getByRole('heading', { level: 1, name: 'Knowledge bases' }).waitFor();
    const focused = () => page.evaluate(() => {
      const el = document.activeElement;
      const cs = getComputedStyle(el);
      return {
        id: el.id, tag: el.tagName, text: (el.textContent || '').trim().slice(0, 40),
        outline: cs.outlineStyle, outlineWidth: cs.outlineWidth, shadow: cs.boxShadow,
      };
    });
    const visibleFocus = (f) => (f.outline !== 'none' && f.outlineWidth !== '0px') || f.shadow !== 'none';
    const tabTo = async (match) => {
      for (let i = 0; i < 30; i++) {
        await page.keyboard.press('Tab');
        const f = await focused();
        assert.ok(visibleFocus(f), `focused element has a visible focus style: ${JSON.stringify(f)}`);
        if (match(f)) return f;
      }
      throw new Error('not reached with Tab');
    };
    await tabTo((f) => f.tag === 'A' && f.text === 'Retrieval test');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Retrieval test' }).waitFor();
    await tabTo((f) => f.id === 'search-q');
    await page.keyboard.type('How do plants use sunlight?');
    await shot(page, '06d-keyboard-focus');
    await page.keyboard.press('Enter');
    await page.locator('li.hit').first().waitFor();
    assert.ok(await page.locator('li.hit').first().locator('.matched .term', { hasText: /^sunlight$/ }).isVisible());
    assert.equal((await focused()).id, 'search-q', 'focus stays in the query box');
  });

  await t.test('knowledge base settings: system prompt and retrieval defaults are saved', async () => {
    await page.getByRole('link', { name: 'Knowledge bases' }).click();
    await page.getByRole('link', { name: 'botany' }).click();
    await page.getByRole('heading', { level: 1, name: 'botany' }).waitFor();
    const form = page.locator('details.settings');
    assert.equal(await form.evaluate((d) => d.open), false, 'settings start collapsed');
    await form.locator('summary').click();
    assert.equal(await page.getByLabel('Description').inputValue(), 'Notes about plants');
    await page.getByLabel('Description').fill('Notes about plants and light');
    await page.getByLabel('System prompt').fill(SYSTEM_PROMPT);
    await form.getByLabel('Mode').selectOption('hybrid');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.locator('.toast', { hasText: 'Settings of “botany” saved.' }).waitFor();
    assert.equal(await page.locator('p.desc').textContent(), 'Notes about plants and light');
    await shot(page, '06e-kb-settings');
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'botany' }).waitFor();
    await page.locator('details.settings summary').click();
    assert.equal(await page.getByLabel('System prompt').inputValue(), SYSTEM_PROMPT);
    assert.equal(await page.locator('details.settings').getByLabel('Mode').inputValue(), 'hybrid');
    assert.equal(await page.locator('details.settings').getByLabel('Rerank').inputValue(), '');
    const kb = await (await page.request.get(`${ragd.url}/api/v1/knowledge-bases/botany`)).json();
    assert.equal(kb.system_prompt, SYSTEM_PROMPT);
    assert.deepEqual(kb.retrieval, { mode: 'hybrid' });
  });

  await t.test('re-index with new chunking: progress, then the switch', async () => {
    const card = page.locator('details.reindex');
    await card.locator('summary').click();
    await card.getByLabel('Chunk size (tokens)').fill('128');
    await card.getByLabel('Chunk template').selectOption('parent_child');
    await card.getByRole('button', { name: 'Re-index' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Re-index' }).click();
    await page.locator('.toast', { hasText: 'Re-indexing “botany”.' }).waitFor();
    await card.locator('.reindex-state', { hasText: 'Re-indexed to' }).waitFor({ timeout: 30000 });
    await page.locator('.kb-meta', { hasText: '128 tokens' }).waitFor();
    await page.locator('.kb-meta', { hasText: 'Parent–child' }).waitFor();
    await shot(page, '06f-kb-reindexed');
    const kb = await (await page.request.get(`${ragd.url}/api/v1/knowledge-bases/botany`)).json();
    assert.equal(kb.chunk_size, 128);
    assert.equal(kb.chunk_template, 'parent_child');
    const r = await (await page.request.get(`${ragd.url}/api/v1/knowledge-bases/botany/reindex`)).json();
    assert.equal(r.status, 'done');
    assert.equal(r.done, r.total);
    // Searches keep finding the documents in the new index.
    const s = await (await page.request.post(`${ragd.url}/api/v1/search`, { data: { knowledge_bases: ['botany'], query: 'RuBisCO' } })).json();
    assert.ok(s.hits.length > 0);
  });

  await t.test('document metadata is shown and edited', async () => {
    const row = page.locator('tr[data-status="ready"]').first();
    await row.locator('.meta-edit summary').click();
    await row.getByLabel('Metadata (JSON)').fill('{"topic": "botany", "year": 2024}');
    await row.getByRole('button', { name: 'Save metadata' }).click();
    await page.locator('.toast', { hasText: 'Metadata of' }).waitFor();
    await row.locator('.meta-tag', { hasText: 'topic: botany' }).waitFor();
    const id = await row.getAttribute('data-id');
    const doc = await (await page.request.get(`${ragd.url}/api/v1/knowledge-bases/botany/documents/${id}`)).json();
    assert.deepEqual(doc.metadata, { topic: 'botany', year: 2024 });
    await row.locator('.meta-edit summary').click();
    assert.equal(JSON.parse(await row.getByLabel('Metadata (JSON)').inputValue()).year, 2024);
    await row.getByLabel('Metadata (JSON)').fill('{"topic": ');
    await row.getByRole('button', { name: 'Save metadata' }).click();
    await row.locator('.form-error', { hasText: 'JSON object' }).waitFor();
    await shot(page, '06g-doc-metadata');
  });

  await t.test('chat streams an answer with reasoning and clickable citations', async () => {
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.getByRole('heading', { level: 1, name: 'Chat' }).waitFor();
    await page.locator('.llm-status.ok').waitFor();
    assert.match(await page.locator('.llm-status').textContent(), /mock:7b/);
    assert.ok(await page.getByRole('checkbox', { name: /botany/ }).isChecked());
    // Record every state of the answer text, to see it grow while streaming.
    await page.evaluate(() => {
      window.__answerStates = [];
      new MutationObserver(() => {
        const a = document.querySelector('.msg.assistant .answer');
        const text = a ? a.textContent : '';
        if (text && window.__answerStates.at(-1) !== text) window.__answerStates.push(text);
      }).observe(document.getElementById('main'), { subtree: true, childList: true, characterData: true });
    });
    const box = page.getByLabel('Your question');
    await box.fill('How do plants use sunlight?');
    await box.press('Enter');
    await page.locator('.msg.assistant[aria-busy="true"]').waitFor();
    await page.waitForFunction(() => /Plants/.test(document.querySelector('.msg.assistant .answer')?.textContent || ''));
    await shot(page, '07a-chat-streaming');
    await page.locator('.msg.assistant[aria-busy="false"]').waitFor({ timeout: 30_000 });
    const answer = page.locator('.msg.assistant .answer');
    assert.equal(await answer.textContent(), 'Plants use sunlight [1].');
    const sent = llm.requests.filter((r) => r.stream !== false).at(-1);
    assert.equal(sent.messages[0].role, 'system');
    assert.equal(sent.messages[0].content, SYSTEM_PROMPT, 'the knowledge base system prompt is used');
    const states = await page.evaluate(() => window.__answerStates);
    assert.ok(states.length >= 3, `the answer streamed in pieces: ${JSON.stringify(states)}`);
    const reasoning = page.locator('.msg.assistant details.reasoning');
    assert.equal(await reasoning.evaluate((d) => d.open), false, 'reasoning starts collapsed');
    await reasoning.locator('summary').click();
    assert.match(await reasoning.textContent(), /thinking about plants/);
    assert.match(page.url(), /#\/chat\/[0-9a-f-]+$/, 'the new conversation is in the address');
    await page.locator('.conv-list a', { hasText: 'How do plants use sunlight?' }).waitFor();
    await shot(page, '07-chat-answer');

    await answer.getByRole('button', { name: 'Show source 1' }).click();
    const panel = page.locator('.cite-panel');
    await panel.waitFor();
    assert.match(await panel.locator('.cite-doc').textContent(), /photosynthesis\.md/);
    assert.match(await panel.locator('blockquote').textContent(), /sunlight/);
    assert.equal(await answer.getByRole('button', { name: 'Show source 1' }).getAttribute('aria-expanded'), 'true');
    await shot(page, '08-citation');
  });

  await t.test('an LLM failure shows a clear message', async () => {
    const box = page.getByLabel('Your question');
    await box.fill('And at night? #fail');
    await page.getByRole('button', { name: 'Send' }).click();
    const error = page.locator('.msg.assistant').nth(1).locator('.notice.error');
    await error.waitFor({ timeout: 30_000 });
    assert.match(await error.textContent(), /The LLM failed to answer/);
    await shot(page, '09-llm-error');
  });

  await t.test('a conversation reopens from the sidebar', async () => {
    await page.getByRole('button', { name: '+ New chat' }).click();
    await page.getByText('Pick knowledge bases, then ask').waitFor();
    await page.locator('.conv-list a', { hasText: 'How do plants use sunlight?' }).click();
    await page.locator('.msg.assistant .answer', { hasText: 'Plants use sunlight' }).waitFor();
    await page.locator('.msg.assistant .answer').first().getByRole('button', { name: 'Show source 1' }).click();
    assert.match(await page.locator('.cite-panel blockquote').textContent(), /sunlight/);
  });

  await t.test('the language switch turns the UI into Chinese and is remembered', async () => {
    await page.getByLabel('Language').selectOption('zh');
    await page.getByRole('heading', { level: 1, name: '对话' }).waitFor();
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-CN');
    assert.equal(await page.locator('#nav a').first().textContent(), '知识库');
    await shot(page, '10-chat-zh');
    await page.goto(`${ragd.url}/#/kbs`);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: '知识库' }).waitFor();
    await page.getByText('2 个文档').waitFor();
    await shot(page, '11-kbs-zh');
  });

  await t.test('Chinese is the default when the browser prefers it', async () => {
    const zh = await browser.context.newPage();
    watchConsole(zh, problems);
    await zh.addInitScript(() => {
      Object.defineProperty(navigator, 'languages', { get: () => ['zh-CN', 'zh', 'en'] });
      localStorage.removeItem('ragd.lang');
    });
    await zh.goto(`${ragd.url}/#/search`);
    await zh.getByRole('heading', { level: 1, name: '检索测试' }).waitFor();
    await zh.getByText('高级选项', { exact: true }).click();
    await zh.getByLabel('重排序').selectOption('weighted');
    assert.equal(await zh.getByLabel('重排序').locator('option:checked').textContent(), '加权');
    await zh.getByLabel('查询').fill('植物如何利用阳光？');
    await zh.getByRole('button', { name: '检索' }).click();
    await zh.locator('li.hit .score.rerank').first().waitFor();
    await shot(zh, '10b-search-zh');
    await zh.close();
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('heading', { level: 1, name: 'Knowledge bases' }).waitFor();
  });

  await t.test('fits a 360 px wide screen', async () => {
    await page.setViewportSize({ width: 360, height: 780 });
    for (const [hash, name] of [['#/kbs', '12-mobile-kbs'], ['#/search', '13-mobile-search']]) {
      await page.goto(`${ragd.url}/${hash}`);
      await page.locator('h1').waitFor();
      await page.waitForTimeout(200);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${hash}: no horizontal scrolling (${overflow}px)`);
      await shot(page, name);
    }
    await page.getByText('Advanced', { exact: true }).click();
    await page.getByLabel('Query').fill('How do plants use sunlight?');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('li.hit .matched').first().waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'search results fit');
    await shot(page, '13b-mobile-search-results');
    await page.getByRole('link', { name: 'Knowledge bases' }).click();
    await page.getByRole('link', { name: 'botany' }).click();
    await page.locator('tr[data-status="ready"]').nth(1).waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    await shot(page, '14-mobile-documents');
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.locator('.conv-list a').first().click();
    await page.locator('.msg.assistant .answer').first().waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
    await shot(page, '15-mobile-chat');
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  await t.test('deletes a document and the knowledge base after confirmation', async () => {
    await page.getByRole('link', { name: 'Knowledge bases' }).click();
    await page.getByRole('link', { name: 'botany' }).click();
    await page.locator('tr[data-status="ready"]').nth(1).waitFor();
    await page.getByRole('button', { name: 'Delete sourdough.txt' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.waitForFunction(() => document.querySelectorAll('tr[data-id]').length === 1);

    await page.getByRole('link', { name: 'Knowledge bases' }).first().click();
    await page.getByRole('button', { name: 'Delete botany' }).click();
    const dialog = page.getByRole('dialog');
    assert.match(await dialog.textContent(), /botany/);
    await shot(page, '16-confirm-delete');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await page.locator('.kb-card').count(), 1, 'cancel keeps it');
    await page.getByRole('button', { name: 'Delete botany' }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No knowledge bases yet').waitFor();
  });

  await t.test('no console errors', () => {
    // Chromium logs every non-2xx response as a console error; the rejected upload (415)
    // and the cross-encoder search (400) are that on purpose, and the failed answer is an
    // SSE event inside a 200 response.
    const unexpected = problems.filter((p) => !/status of 415 .*\/documents\)$/.test(p)
      && !/status of 400 .*\/api\/v1\/search\)$/.test(p));
    if (problems.length) console.log('console messages (415 and 400 expected):', problems);
    assert.deepEqual(unexpected, []);
  });
});
