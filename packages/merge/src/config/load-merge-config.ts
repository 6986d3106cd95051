import { readFile } from 'node:fs/promises';
import { FileFormatError, InvalidInputError } from '@fusechat/core';
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
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`Cannot read merge config ${path}: ${(error as Error).message}`, {
      code: 'MERGE_CONFIG_UNREADABLE',
      field: 'config',
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = parse(text);
  } catch (error) {
    throw new FileFormatError('MERGE_CONFIG_YAML', `${path} is not valid YAML: ${(error as Error).message}`, {
      path,
      cause: error,
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
