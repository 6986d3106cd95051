import { z } from 'zod';
import { pipelineConfigSchema } from './pipeline-config-schema.js';

/** `$id` of the published JSON Schema of pipeline configs. */
export const PIPELINE_CONFIG_SCHEMA_ID =
  'https://raw.githubusercontent.com/fusechat/fusechat/main/packages/pipeline/pipeline-config.schema.json';

/**
 * The JSON Schema (draft 2020-12) of `fusechat run` / `fusechat plan` configs, generated from the
 * same zod schema `parsePipelineConfig` validates with — for editors
 * (`# yaml-language-server: $schema=…`) and the generated config reference. Cross-field rules
 * (unique source names, `endpoint` needs `model_name` and `tokenizer`, known merge methods, files
 * that exist, tokenizers that load) are checked by `loadPipelineConfig` only.
 *
 * @example
 * ```ts
 * await writeFile('pipeline-config.schema.json', `${JSON.stringify(pipelineConfigJsonSchema(), null, 2)}\n`);
 * ```
 */
export function pipelineConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(pipelineConfigSchema, { target: 'draft-2020-12', io: 'input' });
  const { $schema, ...rest } = schema;
  return { $schema, $id: PIPELINE_CONFIG_SCHEMA_ID, title: 'fusechat pipeline config', ...rest };
}
