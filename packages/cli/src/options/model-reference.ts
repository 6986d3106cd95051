import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createConsoleLogger, createProgressPrinter, type Logger } from '@fusechat/core';
import type { ResolvedModel, ResolveModelReferenceOptions } from '@fusechat/hub';

/** What `--model` (and every option naming a model) accepts, for help texts. */
export const MODEL_REFERENCE_HELP =
  'a model directory, or a Hugging Face id ORG/NAME[@revision] (read from the HF cache, downloaded into it when missing)';

/**
 * Resolves a model option's value with {@link resolveModelReference}: an existing path as is,
 * `ORG/NAME[@revision]` from the Hugging Face cache (`HF_HUB_CACHE` / `HF_HOME`), downloaded
 * into it with a progress line when online. Says on stderr which snapshot an id resolved to.
 * Failures are `HUB_…` errors, printed by the CLI as one line.
 *
 * @example
 * ```ts
 * const { dir } = await resolveModelOption(options.model, '--model');
 * const model = await loadModel(dir);
 * ```
 */
export async function resolveModelOption(
  value: string,
  flag: string,
  options: { logger?: Logger; resolve?: ResolveModelReferenceOptions } = {},
): Promise<ResolvedModel> {
  const logger = options.logger ?? createConsoleLogger({ prefix: 'fusechat: ' });
  // Loaded on use: commands that are not given a model (and --help) do not pay for it.
  const { resolveModelReference } = await import('@fusechat/hub');
  const progress = createProgressPrinter();
  try {
    const resolved = await resolveModelReference(value, { logger, onProgress: progress, ...options.resolve });
    progress.finish();
    if (resolved.source !== 'local') {
      logger.info(
        `${flag} ${value}: ${resolved.source === 'cache' ? 'from the Hugging Face cache' : 'downloaded'}, commit ${resolved.commit?.slice(0, 12)} (${resolved.dir})`,
      );
    }
    return resolved;
  } catch (error) {
    progress.finish();
    throw error;
  }
}

/** {@link resolveModelOption} for an optional option: `undefined` stays `undefined`. */
export async function resolveOptionalModelOption(
  value: string | undefined,
  flag: string,
  options: { logger?: Logger; resolve?: ResolveModelReferenceOptions } = {},
): Promise<string | undefined> {
  return value === undefined ? undefined : (await resolveModelOption(value, flag, options)).dir;
}

/**
 * The model a config file names under `key` (e.g. `model_name_or_path` of a train config),
 * resolved as {@link resolveModelOption} does. Config loaders resolve relative paths against the
 * config's directory, which turns an id into a path that does not exist; this reads the value as
 * written, so `model_name_or_path: Qwen/Qwen2.5-0.5B-Instruct` works while a relative directory
 * still resolves against the config file. `loadedValue` (what the loader made of it) is used
 * when the key is not a plain string.
 *
 * @example
 * ```ts
 * const config = await loadTrainConfig(path);
 * const modelDir = await resolveConfigModel(path, 'model_name_or_path', config.modelNameOrPath);
 * ```
 */
export async function resolveConfigModel(
  configPath: string,
  key: string,
  loadedValue: string,
  options: { logger?: Logger; resolve?: ResolveModelReferenceOptions } = {},
): Promise<string> {
  // Loaded on use, as @fusechat/hub above.
  const { parse: parseYaml } = await import('yaml');
  let written: unknown;
  try {
    written = (parseYaml(await readFile(configPath, 'utf8')) as Record<string, unknown> | null)?.[key];
  } catch {
    written = undefined;
  }
  const reference = typeof written === 'string' && written !== '' ? written : loadedValue;
  const resolved = await resolveModelOption(reference, key, {
    ...options,
    resolve: { baseDir: dirname(resolve(configPath)), ...options.resolve },
  });
  return resolved.dir;
}
