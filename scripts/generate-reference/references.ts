// The generated reference pages: where each lives and how it is rendered.
import { join } from 'node:path';
import { renderCliReference } from './cli-reference.js';
import { type JsonSchema, renderJsonSchemaReference } from './json-schema-reference.js';

/** What regenerates every page (the root package.json script). */
export const REGENERATE_COMMAND = 'npm run docs:reference';

/** The same without the root script: what `npm run docs:reference` runs. */
export const REGENERATE_COMMAND_EXPANDED =
  'node --conditions=source --import ./scripts/register-source-hooks.mjs --import tsx scripts/generate-reference/generate-reference.ts';

export interface GeneratedReference {
  /** Path relative to the repository root. */
  readonly path: string;
  readonly render: () => Promise<string>;
}

export const repoRoot = join(import.meta.dirname, '..', '..');

async function cliReference(): Promise<string> {
  const { createProgram } = await import('../../packages/cli/src/program.js');
  return renderCliReference(createProgram(), { regenerate: REGENERATE_COMMAND });
}

async function pipelineConfigReference(): Promise<string> {
  const pipeline: { pipelineConfigJsonSchema?: () => unknown } = await import(
    '../../packages/pipeline/src/index.js'
  );
  if (typeof pipeline.pipelineConfigJsonSchema !== 'function')
    throw new Error(
      '@fusechat/pipeline does not export pipelineConfigJsonSchema() (packages/pipeline/src/index.ts)',
    );
  return renderJsonSchemaReference(pipeline.pipelineConfigJsonSchema() as JsonSchema, {
    title: 'Pipeline config reference (`PIPELINE.yml`)',
    source: 'pipelineConfigJsonSchema() in packages/pipeline/src/config',
    regenerate: REGENERATE_COMMAND,
    intro: [
      [
        'The config of `fusechat run PIPELINE.yml` and `fusechat plan PIPELINE.yml`: every key the schema',
        'accepts, generated from the zod schema `loadPipelineConfig` validates with. What the stages do with',
        'it: [the pipeline guide](../guides/pipeline.md). Relative paths are relative to the config file.',
        'Nested keys are written `capture.top_k`; list items `sources[].name`.',
      ].join('\n'),
    ],
  });
}

async function trainConfigReference(): Promise<string> {
  const { trainConfigJsonSchema } = await import(
    '../../packages/training/src/config/train-config-json-schema.js'
  );
  return renderJsonSchemaReference(trainConfigJsonSchema() as JsonSchema, {
    title: 'Train config reference (`fusechat train CONFIG.yml`)',
    source: 'trainConfigJsonSchema() in packages/training/src/config',
    regenerate: REGENERATE_COMMAND,
    intro: [
      [
        'Every key of a `fusechat train` config, generated from the zod schema `parseTrainConfig` validates',
        'with. How to write one, run it and resume it: [the training guide](../guides/training.md).',
        'Relative paths are relative to the config file. Defaults the schema does not carry are stated in',
        'the description. Cross-field rules (`pivot_store` or `train_file`, `warmup_steps` ≤ `max_steps`, …)',
        'are checked by `parseTrainConfig` and listed in the',
        '[training README](../../packages/training/README.md#config-reference).',
      ].join('\n'),
      [
        'Editors complete and check these keys with the same schema, shipped as',
        '`@fusechat/training/train-config.schema.json`: put',
        '`# yaml-language-server: $schema=<path or URL of train-config.schema.json>` at the top of the file.',
      ].join('\n'),
    ],
  });
}

/** Every generated page, in the order they are written. */
export const GENERATED_REFERENCES: readonly GeneratedReference[] = [
  { path: 'docs/reference/cli.md', render: cliReference },
  { path: 'docs/reference/pipeline-config.md', render: pipelineConfigReference },
  { path: 'docs/reference/train-config.md', render: trainConfigReference },
];
