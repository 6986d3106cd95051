// Test-only: the fenced code blocks of a Markdown file, with the `<!-- docs-test: … -->`
// directive written on the line above a block (if any).

/** One fenced block: its language, its text, the directive above it and its first line (1-based). */
export interface FencedBlock {
  readonly lang: string;
  readonly code: string;
  readonly directive: string | undefined;
  readonly line: number;
}

/**
 * @example
 * ```ts
 * extractFencedBlocks('<!-- docs-test: skip -->\n```sh\nls\n```\n')[0]; // { lang: 'sh', code: 'ls\n', directive: 'skip', line: 2 }
 * ```
 */
export function extractFencedBlocks(markdown: string): FencedBlock[] {
  const lines = markdown.split('\n');
  const blocks: FencedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(```+)\s*([\w-]*)/.exec(lines[i] as string);
    if (!open) continue;
    const fence = open[2] as string;
    const previous = lines
      .slice(0, i)
      .reverse()
      .find((line) => line.trim() !== '');
    const directive = /<!--\s*docs-test:\s*(.*?)\s*-->/.exec(previous ?? '')?.[1];
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !(lines[j] as string).trim().startsWith(fence))
      body.push(lines[j++] as string);
    blocks.push({
      lang: open[3] ?? '',
      code: body.length ? `${body.join('\n')}\n` : '',
      directive,
      line: i + 1,
    });
    i = j;
  }
  return blocks;
}
