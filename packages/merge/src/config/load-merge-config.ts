import { FileFormatError } from '@fusechat/core';
import { readInputText } from '@fusechat/core/node';
import { parse } from 'yaml';

/**
 * Reads a mergekit-style YAML (or JSON) config file into the plain object `mergeModels` takes.
 * Validation happens in `mergeModels`' preflight (or `parseMergeConfig`), where every problem is
 * reported at once.
 *
 * @example
 * ```ts
 * const config = await loadMergeConfig('varm.yml');
 * await mergeModels(config, { out: 'fused' });
 * ```
 */
export async function loadMergeConfig(path: string): Promise<Record<string, unknown>> {
  const text = await readInputText(path, { what: 'merge config', notFoundCode: 'MERGE_CONFIG_UNREADABLE' });
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    // The yaml library's message ends in a multi-line code frame; keep one line with the position.
    const { message, linePos } = error as Error & { linePos?: { line: number; col: number }[] };
    const reason = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const at = linePos?.[0] === undefined ? '' : `:${linePos[0].line}:${linePos[0].col}`;
    throw new FileFormatError('MERGE_CONFIG_YAML', `${path}${at} is not valid YAML: ${reason}`, {
      path,
      cause: error,
      details: { line: linePos?.[0]?.line, column: linePos?.[0]?.col },
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FileFormatError(
      'MERGE_CONFIG_YAML',
      `${path} must hold a mapping (merge_method:, models:, …).`,
      { path },
    );
  }
  return value as Record<string, unknown>;
}
