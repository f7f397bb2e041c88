// The block structure of Markdown answers, pure (no DOM): views/answer.js turns it into elements.

/** Splits Markdown into blocks: fenced code, headings, lists, paragraphs. Pure. */
export function markdownBlocks(text) {
  const blocks = [];
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let para = [];
  const flush = () => {
    if (para.length) blocks.push({ kind: 'p', text: para.join('\n') });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*(```|~~~)/);
    if (fence) {
      flush();
      const body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence[1]); i++) body.push(lines[i]);
      blocks.push({ kind: 'code', text: body.join('\n') });
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      flush();
      blocks.push({ kind: 'heading', level: heading[1].length, text: heading[2] });
      continue;
    }
    const item = line.match(/^\s*(?:([-*+])|(\d{1,3})[.)])\s+(.*)$/);
    if (item) {
      flush();
      const ordered = !item[1];
      const last = blocks[blocks.length - 1];
      if (last && last.kind === 'list' && last.ordered === ordered && last.open) last.items.push(item[3]);
      else blocks.push({ kind: 'list', ordered, items: [item[3]], open: true });
      continue;
    }
    const last = blocks[blocks.length - 1];
    if (!line.trim()) {
      flush();
      if (last && last.kind === 'list') last.open = false;
      continue;
    }
    if (!para.length && last && last.kind === 'list' && last.open && /^\s+/.test(line)) {
      last.items[last.items.length - 1] += ` ${line.trim()}`;
      continue;
    }
    if (last && last.kind === 'list') last.open = false;
    para.push(line);
  }
  flush();
  return blocks;
}
