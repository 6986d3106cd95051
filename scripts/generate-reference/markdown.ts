// Markdown helpers shared by the reference renderers.

/**
 * Text for one table cell: `|` escaped, line breaks as `<br>`, and `<`, `>` outside code spans
 * as entities (`checkpoint-<step>/` would otherwise be swallowed as an HTML tag).
 *
 * @example
 * ```ts
 * tableCell('a | b <dir> `x<y>`'); // 'a \\| b &lt;dir&gt; `x<y>`'
 * ```
 */
export function tableCell(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, index) => (index % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, '<br>');
}

/** A code span holding `text`, with enough backticks around it (CommonMark) for any it contains. */
export function code(text: string): string {
  const longestRun = Math.max(0, ...[...text.matchAll(/`+/g)].map((match) => match[0].length));
  const fence = '`'.repeat(longestRun + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/**
 * A code span for a table cell: GitHub splits cells at every `|`, code spans included, unless it
 * is escaped (the backslash does not show).
 */
export function cellCode(text: string): string {
  return code(text).replace(/\|/g, '\\|');
}

/** A Markdown table; `rows` are already-escaped cells. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function headingAnchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .trim()
    .replace(/\s/g, '-');
}

/** A fenced block whose fence is longer than any backtick run inside. */
export function fencedBlock(language: string, body: string): string[] {
  const longestRun = Math.max(2, ...[...body.matchAll(/`+/g)].map((match) => match[0].length));
  const fence = '`'.repeat(longestRun + 1);
  return [`${fence}${language}`, body.replace(/\s+$/, ''), fence];
}

/** The line every generated page starts with, naming the command that regenerates it. */
export function generatedNotice(source: string, command: string): string {
  return `<!-- Generated from ${source} by scripts/generate-reference. Do not edit: run \`${command}\`. -->`;
}
