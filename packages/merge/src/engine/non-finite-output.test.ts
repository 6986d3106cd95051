// Outputs that are not finite — finite inputs whose merge overflows float32, or a NaN in an
// input — are refused (MERGE_NON_FINITE) by every method, also by those whose fused last pass
// checks finiteness in place of the engine's scan.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFuseChatError } from '@fusechat/core';
import { afterAll, describe, expect, it } from 'vitest';
import { mergeModels } from './merge-models.js';
import { type FixtureTensor, writeCheckpoint } from './test-checkpoints.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-merge-overflow-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const LENGTH = 64;
const HUGE = 3e38; // float32 max ≈ 3.4e38

/** One layer; element 5 of the MLP weight is `extreme`, the rest small and finite. */
function model(extreme: number, seed: number): Record<string, FixtureTensor> {
  const small = (offset: number) =>
    Array.from({ length: LENGTH }, (_, i) => Math.fround(0.01 * Math.sin(seed * 7 + i + offset)));
  const mlp = small(1);
  mlp[5] = extreme;
  return {
    'model.embed_tokens.weight': { shape: [8, 8], values: small(2) },
    'model.layers.0.mlp.up_proj.weight': { shape: [8, 8], values: mlp },
    'model.norm.weight': { shape: [8], values: small(3).slice(0, 8) },
  };
}

const config = { num_hidden_layers: 1, hidden_size: 8, vocab_size: 8 };
writeCheckpoint(join(root, 'base'), model(-HUGE, 1), config);
writeCheckpoint(join(root, 'a'), model(HUGE, 2), config);
writeCheckpoint(join(root, 'b'), model(HUGE, 3), config);
// Mixes of targets (SCE, VaRM) stay within the inputs' range and cannot overflow: a NaN in one does.
writeCheckpoint(join(root, 'small'), model(0.5, 4), config);
writeCheckpoint(join(root, 'nan'), model(Number.NaN, 5), config);

const cases: [string, Record<string, unknown>][] = [
  [
    'linear',
    {
      merge_method: 'linear',
      parameters: { normalize: false },
      models: [
        { model: 'a', parameters: { weight: 1 } },
        { model: 'b', parameters: { weight: 1 } },
      ],
    },
  ],
  [
    'task_arithmetic',
    {
      merge_method: 'task_arithmetic',
      base_model: 'base',
      parameters: { lambda: 2 },
      models: [
        { model: 'a', parameters: { weight: 1 } },
        { model: 'b', parameters: { weight: 1 } },
      ],
    },
  ],
  [
    'ties (two models, fused check)',
    {
      merge_method: 'ties',
      base_model: 'base',
      parameters: { lambda: 2, normalize: false },
      models: [
        { model: 'a', parameters: { weight: 1, density: 0.5 } },
        { model: 'b', parameters: { weight: 1, density: 0.5 } },
      ],
    },
  ],
  [
    'sce (two models, fused check), a NaN target',
    {
      merge_method: 'sce',
      base_model: 'small',
      parameters: { select_topk: 0.5 },
      models: [{ model: 'nan' }, { model: 'a' }],
    },
  ],
  [
    'sce, everything selected, a NaN target',
    {
      merge_method: 'sce',
      base_model: 'small',
      parameters: { select_topk: 1 },
      models: [{ model: 'a' }, { model: 'nan' }],
    },
  ],
  [
    'variation_ratio (fused mix and check), a NaN target',
    { merge_method: 'variation_ratio', base_model: 'small', models: [{ model: 'a' }, { model: 'nan' }] },
  ],
];

describe('a merge whose output is not finite is refused, not written', () => {
  for (const [name, raw] of cases) {
    it(name, async () => {
      const out = join(root, `out-${cases.findIndex(([other]) => other === name)}`);
      const error = await mergeModels(raw, { out, cwd: root }).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isFuseChatError(error, 'MERGE_NON_FINITE'), String(error)).toBe(true);
      expect((error as { tensorName?: string }).tensorName).toBe('model.layers.0.mlp.up_proj.weight');
    });
  }
});
