import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InvalidInputError } from '@fusechat/core';
import { type ParseTrainConfigOptions, parseTrainConfig, type TrainConfig } from './parse-train-config.js';

/**
 * Reads and validates a `fusechat train` YAML (or JSON) file with {@link parseTrainConfig}:
 * relative paths in it are resolved against the file's directory, and problems name the file
 * and line.
 *
 * @example
 * ```ts
 * const config = await loadTrainConfig('configs/train-mistral.yml');
 * config.outputDir; // '/abs/path/configs/train/mistral'
 * ```
 */
export async function loadTrainConfig(
  path: string,
  options: Omit<ParseTrainConfigOptions, 'baseDir' | 'source'> = {},
): Promise<TrainConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new InvalidInputError(`Cannot read train config ${path}: ${(error as Error).message}`, {
      code: 'TRAIN_CONFIG_UNREADABLE',
      field: 'config',
      cause: error,
      details: { path },
    });
  }
  return parseTrainConfig(text, { ...options, baseDir: dirname(resolve(path)), source: path });
}
