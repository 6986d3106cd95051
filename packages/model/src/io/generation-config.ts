import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError } from '@fusechat/core';
import { readInputText } from '@fusechat/core/node';

/**
 * `eos_token_id` of a model directory's `generation_config.json` — the ids transformers' `generate`
 * (and vLLM) stop at, which may list more than `config.json` does (Llama 3 Instruct's
 * `<|eot_id|>`). Empty when the file is absent or names none.
 *
 * @throws FileFormatError `MODEL_GENERATION_CONFIG_INVALID` for a file that is not JSON or an
 *   `eos_token_id` that is not a token id or a list of them.
 * @example
 * ```ts
 * const stop = [...(await readGenerationConfigEos('models/llama3-instruct'))];
 * ```
 */
export async function readGenerationConfigEos(modelDir: string): Promise<number[]> {
  const path = join(modelDir, 'generation_config.json');
  if (!existsSync(path)) return [];
  const text = await readInputText(path, { what: 'generation config' });
  let eos: unknown;
  try {
    eos = (JSON.parse(text) as { eos_token_id?: unknown } | null)?.eos_token_id;
  } catch (cause) {
    throw new FileFormatError(
      'MODEL_GENERATION_CONFIG_INVALID',
      `${path} is not valid JSON (${(cause as Error).message}); fix or remove it.`,
      { path, cause },
    );
  }
  const ids = eos === undefined || eos === null ? [] : [eos].flat();
  if (!ids.every((id) => Number.isSafeInteger(id) && (id as number) >= 0)) {
    throw new FileFormatError(
      'MODEL_GENERATION_CONFIG_INVALID',
      `${path}: "eos_token_id" must be a token id or a list of token ids, got ${JSON.stringify(eos)}.`,
      { path },
    );
  }
  return ids as number[];
}
