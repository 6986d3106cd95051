import { z } from 'zod';
import { trainConfigSchema } from './train-config-schema.js';

/** `$id` of the published JSON Schema of `fusechat train` configs. */
export const TRAIN_CONFIG_SCHEMA_ID =
  'https://raw.githubusercontent.com/fusechat/fusechat/main/packages/training/train-config.schema.json';

/**
 * The JSON Schema (draft 2020-12) of `fusechat train` configs, generated from the same zod schema
 * `parseTrainConfig` validates with, for editors (`# yaml-language-server: $schema=…`). The package
 * ships it as `train-config.schema.json`. Cross-field rules (pivot_store xor train_file, warmup ≤
 * max_steps, …) are checked by `parseTrainConfig` only.
 *
 * @example
 * ```ts
 * await writeFile('train-config.schema.json', `${JSON.stringify(trainConfigJsonSchema(), null, 2)}\n`);
 * ```
 */
export function trainConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(trainConfigSchema, { target: 'draft-2020-12', io: 'input' });
  const { $schema, ...rest } = schema;
  return { $schema, $id: TRAIN_CONFIG_SCHEMA_ID, title: 'fusechat train config', ...rest };
}
