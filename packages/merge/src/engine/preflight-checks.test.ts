import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinMergeMethods } from '../builtin-merge-methods.js';
import { parseMergeConfig } from '../config/merge-config.js';
import { createMergeRegistry } from '../merge-registry.js';
import type { OpenedModel } from './open-inputs.js';
import {
  checkFreeSpace,
  checkLayerCounts,
  checkLeftoverOutputs,
  checkMergeMethod,
  checkModelCount,
  checkOutputDirectory,
  checkSlices,
  checkTensorHeaders,
  checkUnusedParameters,
  checkVocabularies,
  type PreflightReport,
  planTensors,
} from './preflight-checks.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-preflight-checks-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const registry = createMergeRegistry(builtinMergeMethods);
const report = (): PreflightReport => ({ problems: [], warnings: [] });
const config = (raw: Record<string, unknown>) => parseMergeConfig(raw);

/** An opened model with only what the checks read: config.json and the headers. */
function fake(
  reference: string,
  configJson: Record<string, unknown>,
  tensors: Record<string, { dtype?: string; shape: number[] }>,
): OpenedModel {
  const entries = Object.entries(tensors).map(([name, { dtype = 'F32', shape }]) => {
    const numel = shape.reduce((a, b) => a * b, 1);
    return [
      name,
      { name, dtype, shape, numel, byteLength: numel * ({ BF16: 2, I64: 8 }[dtype] ?? 4) },
    ] as const;
  });
  return {
    reference,
    dir: join(root, reference),
    config: configJson,
    checkpoint: { tensors: new Map(entries) } as unknown as OpenedModel['checkpoint'],
  };
}

const layered = (vocab = 10) => ({
  'model.embed_tokens.weight': { shape: [vocab, 4] },
  'model.layers.0.mlp.up_proj.weight': { shape: [8, 4] },
  'model.layers.1.mlp.up_proj.weight': { shape: [8, 4] },
});

describe('checkMergeMethod and checkModelCount', () => {
  it('names an unknown method, a missing base and a wrong model count', () => {
    const r = report();
    expect(
      checkMergeMethod(config({ merge_method: 'nonsense', models: [{ model: 'a' }] }), registry, r),
    ).toBeUndefined();
    expect(r.problems[0]).toMatch(/^merge_method: .*nonsense/);
    const ties = config({ merge_method: 'ties', models: [{ model: 'a' }, { model: 'b' }] });
    const r2 = report();
    checkModelCount(ties, checkMergeMethod(ties, registry, r2), r2);
    expect(r2.problems).toEqual([
      expect.stringMatching(/^base_model: ties merges deltas against a base model/),
    ]);
    const slerp = config({
      merge_method: 'slerp',
      base_model: 'a',
      models: [{ model: 'a' }, { model: 'b' }, { model: 'c' }],
    });
    const r3 = report();
    checkModelCount(slerp, checkMergeMethod(slerp, registry, r3), r3);
    expect(r3.problems).toEqual([
      expect.stringMatching(/^models: slerp merges exactly 1 model besides the base, got 2/),
    ]);
  });
});

describe('checkLeftoverOutputs and checkOutputDirectory', () => {
  it('removes a dead merge’s partial output, warns of a set-aside one, and refuses an input as output', async () => {
    const dir = join(root, 'outputs');
    mkdirSync(join(dir, 'merged.partial-99999999'), { recursive: true });
    mkdirSync(join(dir, 'merged.replaced-5'));
    const r = report();
    await checkLeftoverOutputs(join(dir, 'merged'), r);
    expect(r.warnings).toEqual([
      expect.stringMatching(/^removed .*merged\.partial-99999999: left by an interrupted merge/),
      expect.stringMatching(/merged\.replaced-5: the previous merged, set aside/),
    ]);
    mkdirSync(join(dir, 'pivot'));
    const r2 = report();
    await checkOutputDirectory(join(dir, 'pivot'), ['pivot'], { overwrite: true, cwd: dir }, r2);
    expect(r2.problems).toEqual([
      expect.stringMatching(/^out: .*pivot is the input .*pivot; writing it would destroy/),
    ]);
    const r3 = report();
    await checkOutputDirectory(join(dir, 'pivot'), [], { overwrite: false, cwd: dir }, r3);
    expect(r3.problems).toEqual([expect.stringMatching(/already exists.*--overwrite/)]);
  });
});

describe('checkLayerCounts, checkVocabularies, checkTensorHeaders', () => {
  const merge = config({ merge_method: 'linear', models: [{ model: 'a' }, { model: 'b' }] });
  const a = fake('a', { num_hidden_layers: 2, vocab_size: 10 }, layered());

  it('refuses models of another depth and falls back to the headers without num_hidden_layers', () => {
    const r = report();
    expect(checkLayerCounts(a, [a, fake('b', { num_hidden_layers: 3, vocab_size: 10 }, layered())], r)).toBe(
      2,
    );
    expect(r.problems).toEqual([expect.stringMatching(/^b: config.json has 3 layers .* a has 2/)]);
    expect(checkLayerCounts(fake('c', {}, layered()), [], report())).toBe(2);
  });

  it('crops a larger vocabulary with a warning, refuses a smaller one and the tokenizer source’s', () => {
    const r = report();
    const larger = fake('b', { vocab_size: 12 }, layered(12));
    const smaller = fake('c', { vocab_size: 8 }, layered(8));
    checkVocabularies(merge, a, [a, larger, smaller], a, r);
    expect(r.warnings).toEqual([expect.stringMatching(/^b: vocab_size 12 differs .* cropped/)]);
    expect(r.problems).toEqual([
      expect.stringMatching(/^c: vocab_size 8 .* smaller vocabulary cannot be cropped/),
    ]);
    const source = report();
    checkVocabularies(merge, a, [a], larger, source);
    expect(source.problems).toEqual([
      expect.stringMatching(/^b: vocab_size 12 .* its tokenizer does not fit/),
    ]);
    const strict = report();
    checkVocabularies({ ...merge, vocabMismatch: 'error' }, a, [a, larger], a, strict);
    expect(strict.problems).toEqual([expect.stringMatching(/\(vocab_mismatch: error\)$/)]);
  });

  it('names missing, mis-shaped and non-float tensors, records crops and ignores extras with a warning', () => {
    const r = report();
    const b = fake(
      'b',
      { vocab_size: 12 },
      {
        'model.embed_tokens.weight': { shape: [12, 4] },
        'model.layers.0.mlp.up_proj.weight': { shape: [8, 5] },
        'model.layers.2.extra.weight': { shape: [1] },
      },
    );
    const c = fake(
      'c',
      { vocab_size: 10 },
      { ...layered(), 'model.layers.1.mlp.up_proj.weight': { dtype: 'I32', shape: [8, 4] } },
    );
    const crops = checkTensorHeaders(merge, a, [a, b, c], r);
    expect([...crops]).toEqual([['model.embed_tokens.weight', ['b']]]);
    expect(r.problems).toEqual([
      'b: lacks 1 tensor of a: model.layers.1.mlp.up_proj.weight',
      'b: 1 mismatched tensor(s): model.layers.0.mlp.up_proj.weight has shape [8, 5], expected [8, 4]',
      "c: 1 mismatched tensor(s): model.layers.1.mlp.up_proj.weight is I32, expected a float dtype like the reference's F32",
    ]);
    expect(r.warnings).toEqual([
      'b: 1 tensor(s) not in a are ignored: model.layers.2.extra.weight',
      'model.embed_tokens.weight: rows cropped to 10 in b',
    ]);
  });
});

describe('planTensors, checkSlices, checkUnusedParameters, checkFreeSpace', () => {
  const a = fake('a', { num_hidden_layers: 2 }, { ...layered(), position_ids: { dtype: 'I64', shape: [2] } });
  const b = fake('b', { num_hidden_layers: 2 }, layered());

  it('plans dtypes and byte counts, copies non-float tensors, and groups one parameter mistake into one line', () => {
    const merge = config({
      merge_method: 'linear',
      dtype: 'bfloat16',
      models: [
        { model: 'a', parameters: { weight: 0.5 } },
        { model: 'b', parameters: { weight: 'heavy' } },
      ],
    });
    const r = report();
    const method = checkMergeMethod(merge, registry, r);
    const plan = planTensors(
      { config: merge, method, reference: a, models: [a, b], readCount: 2, layerCount: 2, crops: new Map() },
      r,
    );
    expect(plan.tensors.map((t) => [t.name, t.dtype, t.copy])).toEqual([
      ['model.embed_tokens.weight', 'BF16', false],
      ['model.layers.0.mlp.up_proj.weight', 'BF16', false],
      ['model.layers.1.mlp.up_proj.weight', 'BF16', false],
      ['position_ids', 'I64', true],
    ]);
    // 3 float tensors read from both models (F32: 4 bytes), position_ids (I64) once; floats written as BF16.
    expect(plan.inputBytes).toBe(2 * 4 * (40 + 32 + 32) + 2 * 8);
    expect(plan.outputBytes).toBe(2 * (40 + 32 + 32) + 2 * 8);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/weight.*\(model b\) \[3 tensors, e\.g\. model\.embed_tokens\.weight\]$/);
  });

  it('reports uncovered layers and slices that end early; warns of unused parameters', () => {
    const merge = config({
      merge_method: 'linear',
      parameters: { densty: 0.5 },
      slices: [
        {
          sources: [
            { model: 'a', layer_range: [0, 1] },
            { model: 'b', layer_range: [0, 1] },
          ],
        },
      ],
    });
    const r = report();
    checkSlices(merge, ['model.layers.1.mlp.up_proj.weight'], 2, r);
    expect(r.problems).toEqual([
      'slices: no slice covers the layers of 1 tensor(s): model.layers.1.mlp.up_proj.weight',
      'slices: the slices end at layer 1 but the models have 2 layers',
    ]);
    const w = report();
    checkUnusedParameters(merge, checkMergeMethod(merge, registry, w), w);
    expect(w.warnings).toEqual(['parameter "densty" is not used by linear (ignored)']);
  });

  it('refuses an output the file system has no room for', async () => {
    const r = report();
    await checkFreeSpace(join(root, 'new', 'deeper', 'merged'), 2 ** 60, r);
    expect(r.problems).toEqual([
      expect.stringMatching(/^out: the merged model needs about .* but only .* is free there$/),
    ]);
    const ok = report();
    await checkFreeSpace(join(root, 'merged'), 1, ok);
    expect(ok.problems).toEqual([]);
    writeFileSync(join(root, 'plain-file'), '');
    await checkFreeSpace(join(root, 'plain-file', 'merged'), 1, ok); // a file parent: no crash
  });
});
