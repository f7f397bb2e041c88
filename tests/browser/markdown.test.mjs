// The Markdown block splitter of answers (pure; no browser needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { markdownBlocks } from '../../web/markdown.js';

test('paragraphs, headings, lists and code become blocks', () => {
  const md = '# Title\n\nFirst line\nsecond line [1].\n\n- one\n- two\n  continued\n\n1. a\n2) b\n\n```\nlet x = 1;\n```\nafter';
  const blocks = markdownBlocks(md);
  assert.deepEqual(blocks.map((b) => b.kind), ['heading', 'p', 'list', 'list', 'code', 'p']);
  assert.equal(blocks[0].level, 1);
  assert.equal(blocks[1].text, 'First line\nsecond line [1].');
  assert.deepEqual(blocks[2].items, ['one', 'two continued']);
  assert.equal(blocks[2].ordered, false);
  assert.deepEqual(blocks[3].items, ['a', 'b']);
  assert.equal(blocks[3].ordered, true);
  assert.equal(blocks[4].text, 'let x = 1;');
  assert.equal(blocks[5].text, 'after');
});

test('html stays text and an unclosed fence takes the rest', () => {
  const blocks = markdownBlocks('<img src=x onerror=alert(1)>\n\n```js\nopen');
  assert.equal(blocks[0].kind, 'p');
  assert.equal(blocks[0].text, '<img src=x onerror=alert(1)>');
  assert.equal(blocks[1].kind, 'code');
  assert.equal(blocks[1].text, 'open');
  assert.deepEqual(markdownBlocks(''), []);
});
