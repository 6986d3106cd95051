import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { trainConfigJsonSchema } from './train-config-json-schema.js';
import { loraConfigSchema, trainConfigSchema } from './train-config-schema.js';

const SCHEMA_FILE = fileURLToPath(new URL('../../train-config.schema.json', import.meta.url));

describe('train-config.schema.json', () => {
  it('is up to date with the zod schema (regenerate: UPDATE_TRAIN_CONFIG_SCHEMA=1 vitest run <this file>)', () => {
    const generated = `${JSON.stringify(trainConfigJsonSchema(), null, 2)}\n`;
    if (process.env.UPDATE_TRAIN_CONFIG_SCHEMA === '1') writeFileSync(SCHEMA_FILE, generated);
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(generated);
  });

  it('describes every key, refuses unknown ones, and carries the value ranges', () => {
    const schema = trainConfigJsonSchema() as {
      properties: Record<
        string,
        {
          description?: string;
          minimum?: number;
          exclusiveMinimum?: number;
          maximum?: number;
          properties?: Record<string, unknown>;
          additionalProperties?: unknown;
          enum?: unknown[];
        }
      >;
      required: string[];
      additionalProperties: unknown;
    };
    expect(Object.keys(schema.properties)).toEqual(Object.keys(trainConfigSchema.shape));
    for (const [key, property] of Object.entries(schema.properties)) {
      expect(property.description, key).toBeTruthy();
    }
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['model_name_or_path', 'output_dir']);
    expect(schema.properties.learning_rate!.minimum).toBe(0);
    expect(schema.properties.gradient_accumulation_steps!.minimum).toBe(1);
    expect(schema.properties.lm_loss_weight).toMatchObject({ minimum: 0, maximum: 1 });
    expect(schema.properties.distill_temperature!.exclusiveMinimum).toBe(0);
    expect(schema.properties.distill_loss_type!.enum).toEqual(['ce', 'kl']);
    expect(Object.keys(schema.properties.lora!.properties!)).toEqual(Object.keys(loraConfigSchema.shape));
    expect(schema.properties.lora!.additionalProperties).toBe(false);
  });
});
