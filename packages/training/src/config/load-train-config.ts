import { dirname, resolve } from 'node:path';
import { readInputText } from '@fusechat/core/node';
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
  const text = await readInputText(path, { what: 'train config', notFoundCode: 'TRAIN_CONFIG_UNREADABLE' });
  return parseTrainConfig(text, { ...options, baseDir: dirname(resolve(path)), source: path });
}
