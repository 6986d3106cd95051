import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRandom, isFuseChatError } from '@fusechat/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinMergeMethods } from '../builtin-merge-methods.js';
import { defineMergeMethod } from '../define-merge-method.js';
import { createMergeRegistry } from '../merge-registry.js';
import { mergeModels } from './merge-models.js';
import type { MergeReport } from './merge-report.js';
import { decodeSafetensors, type FixtureTensor, writeCheckpoint } from './test-checkpoints.js';

const HIDDEN = 8;
const VOCAB = 12;
const LAYERS = 3;

function values(seed: number, length: number, std = 1): number[] {
  const random = createRandom(seed);
  return Array.from({ length }, () => Math.fround(std * random.normal()));
}

function tinyModel(
  seed: number,
  options: { vocab?: number; base?: Record<string, FixtureTensor>; std?: number } = {},
) {
  const vocab = options.vocab ?? VOCAB;
  const tensors: Record<string, FixtureTensor> = {};
  const add = (name: string, shape: number[]) => {
    const length = shape.reduce((a, b) => a * b, 1);
    const from = options.base?.[name];
    const noise = values(seed * 1000 + Object.keys(tensors).length, length, options.std ?? 0.01);
    tensors[name] = {
      shape,
      values: from
        ? Array.from({ length }, (_, i) => Math.fround((from.values[i] ?? 0) + noise[i]!))
        : values(seed + Object.keys(tensors).length, length, 0.1),
    };
  };
  add('model.embed_tokens.weight', [vocab, HIDDEN]);
  for (let layer = 0; layer < LAYERS; layer++) {
    add(`model.layers.${layer}.self_attn.q_proj.weight`, [HIDDEN, HIDDEN]);
    add(`model.layers.${layer}.mlp.up_proj.weight`, [2 * HIDDEN, HIDDEN]);
    add(`model.layers.${layer}.input_layernorm.weight`, [HIDDEN]);
  }
  add('model.norm.weight', [HIDDEN]);
  add('lm_head.weight', [vocab, HIDDEN]);
  return tensors;
}

const modelConfig = (vocab = VOCAB) => ({
  num_hidden_layers: LAYERS,
  hidden_size: HIDDEN,
  vocab_size: vocab,
});

function readOutput(dir: string): Record<string, { dtype: string; shape: number[]; values: number[] }> {
  const files = readdirSync(dir).filter((file) => file.endsWith('.safetensors'));
  return Object.assign({}, ...files.map((file) => decodeSafetensors(readFileSync(join(dir, file)))));
}

function referenceVarm(base: number[], targets: number[][]) {
  const changes = targets.map((t) => t.reduce((s, v, i) => s + (v - base[i]!) ** 2, 0) / base.length);
  const total = changes.reduce((a, b) => a + b, 0);
  const weights = changes.map((c) => (total === 0 ? 1 / changes.length : c / total));
  return base.map((_, i) => targets.reduce((s, t, j) => s + weights[j]! * t[i]!, 0));
}

async function failure(
  promise: Promise<unknown>,
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

describe('mergeModels', () => {
  let root: string;
  let base: Record<string, FixtureTensor>;
  let targetA: Record<string, FixtureTensor>;
  let targetB: Record<string, FixtureTensor>;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-merge-'));
    base = tinyModel(1);
    targetA = tinyModel(2, { base, std: 0.01 });
    targetB = tinyModel(3, { base, std: 0.03 });
    writeCheckpoint(join(root, 'pivot'), base, modelConfig(), { tokenizer: 'pivot-tokenizer' });
    writeCheckpoint(join(root, 'target-a'), targetA, modelConfig(), { shards: true });
    writeCheckpoint(
      join(root, 'target-b'),
      Object.fromEntries(
        Object.entries(targetB).map(([name, t]) => [name, { ...t, dtype: 'BF16' as const }]),
      ),
      modelConfig(),
    );
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const varmConfig = () => ({
    merge_method: 'variation_ratio',
    base_model: 'pivot',
    models: [{ model: 'target-a' }, { model: 'target-b' }],
  });

  it('merges with VaRM: float64 reference, copied configs and tokenizer, report and plot', async () => {
    const out = join(root, 'out-varm');
    const events: number[] = [];
    const result = await mergeModels(varmConfig(), {
      out,
      cwd: root,
      onProgress: (e) => e.task === 'merge' && events.push(e.completed),
    });
    expect(result.tensors).toBe(Object.keys(base).length);
    expect(events.at(-1)).toBe(result.tensors);
    const merged = readOutput(out);
    const bf16 = (x: number) => {
      const bits = new Uint32Array(new Float32Array([x]).buffer)[0]!;
      return new Float32Array(
        new Uint32Array([((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16]).buffer,
      )[0]!;
    };
    for (const [name, tensor] of Object.entries(base)) {
      const expected = referenceVarm(Array.from(tensor.values), [
        Array.from(targetA[name]!.values),
        Array.from(targetB[name]!.values).map(bf16),
      ]);
      expect(merged[name]!.shape).toEqual(tensor.shape);
      expect(merged[name]!.dtype).toBe('F32');
      const worst = Math.max(...merged[name]!.values.map((v, i) => Math.abs(v - expected[i]!)));
      expect(worst).toBeLessThan(1e-6);
    }
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).num_hidden_layers).toBe(LAYERS);
    expect(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toContain('pivot-tokenizer');
    expect(existsSync(join(out, 'generation_config.json'))).toBe(true);
    const report = JSON.parse(readFileSync(join(out, 'merge-report.json'), 'utf8')) as MergeReport;
    const q0 = report.tensors.find((t) => t.name === 'model.layers.0.self_attn.q_proj.weight')!;
    expect(q0.weights).toHaveLength(2);
    expect(q0.weights![1]!).toBeGreaterThan(q0.weights![0]!); // target-b changed more
    expect(q0.changeMeanSquare).toHaveLength(2);
    expect(report.layers).toHaveLength(LAYERS);
    expect(readFileSync(join(out, 'merge-report.svg'), 'utf8')).toMatch(
      /^<svg[\s\S]*aria-roledescription="point"[\s\S]*<\/svg>\n$/,
    );
    expect(readdirSync(root).some((name) => name.includes('.partial-'))).toBe(false);
  });

  it('writes the chosen out_dtype, shards the output, and copies non-float tensors', async () => {
    const dir = join(root, 'with-ids');
    writeCheckpoint(
      dir,
      { ...base, 'model.position_ids': { shape: [4], values: [0, 1, 2, 3], dtype: 'I64' } },
      modelConfig(),
    );
    const out = join(root, 'out-bf16');
    await mergeModels(
      {
        merge_method: 'ties',
        base_model: 'with-ids',
        models: [{ model: 'with-ids' }, { model: 'target-a', parameters: { weight: 1, density: 0.5 } }],
        out_dtype: 'bfloat16',
      },
      { out, cwd: root, maxShardBytes: 600 },
    );
    const merged = readOutput(out);
    expect(merged['model.layers.0.mlp.up_proj.weight']!.dtype).toBe('BF16');
    expect(merged['model.position_ids']).toMatchObject({ dtype: 'I64', values: [0, 1, 2, 3] });
    expect(existsSync(join(out, 'model.safetensors.index.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).torch_dtype).toBe('bfloat16');
    // TIES reports each model's change size from the pass that forms its deltas.
    const report = JSON.parse(readFileSync(join(out, 'merge-report.json'), 'utf8')) as MergeReport;
    const name = 'model.layers.1.mlp.up_proj.weight';
    const a = Array.from(targetA[name]!.values);
    const b = Array.from(base[name]!.values);
    const expected = a.reduce((sum, v, i) => sum + (v - b[i]!) ** 2, 0) / a.length;
    expect(report.tensors.find((t) => t.name === name)!.changeMeanSquare![0]).toBeCloseTo(expected, 12);
  });

  it('preflight reports every problem at once and writes nothing', async () => {
    const broken = join(root, 'broken');
    const missing = { ...targetA };
    delete missing['model.layers.1.mlp.up_proj.weight'];
    missing['model.norm.weight'] = { shape: [HIDDEN + 1], values: values(9, HIDDEN + 1) };
    writeCheckpoint(broken, missing, modelConfig());
    const out = join(root, 'out-broken');
    const error = await failure(
      mergeModels(
        {
          merge_method: 'ties',
          base_model: 'pivot',
          models: [
            { model: 'broken', parameters: { weight: 1 } },
            { model: 'target-a' },
            { model: 'nowhere' },
          ],
        },
        { out, cwd: root },
      ),
    );
    expect(isFuseChatError(error, 'MERGE_PREFLIGHT_FAILED')).toBe(true);
    expect(error.message).toMatch(/nowhere.*not a local directory/);
    expect(error.message).toMatch(/lacks 1 tensor.*model\.layers\.1\.mlp\.up_proj\.weight/);
    expect(error.message).toMatch(/model\.norm\.weight has shape \[9\], expected \[8\]/);
    expect(existsSync(out)).toBe(false);
  });

  it('preflight still checks the headers under an unknown method', async () => {
    const lacking = { ...targetA };
    delete lacking['model.layers.2.self_attn.q_proj.weight'];
    writeCheckpoint(join(root, 'lacking'), lacking, modelConfig());
    const out = join(root, 'out-unknown');
    mkdirSync(out);
    const error = await failure(
      mergeModels(
        { merge_method: 'varm', base_model: 'pivot', models: [{ model: 'target-a' }, { model: 'lacking' }] },
        { out, cwd: root },
      ),
    );
    const problems = error.details!.problems as string[];
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/Unknown merge method "varm"/);
    expect(problems.join('\n')).toMatch(
      /lacking: lacks 1 tensor.*model\.layers\.2\.self_attn\.q_proj\.weight/,
    );
    expect(problems.join('\n')).toMatch(/already exists/);
  });

  it('preflight reports missing parameters once per model, a missing base, and unknown methods', async () => {
    const missingWeight = await failure(
      mergeModels(
        {
          merge_method: 'ties',
          base_model: 'pivot',
          models: [{ model: 'target-a' }, { model: 'target-b', parameters: { weight: 1 } }],
        },
        { out: join(root, 'x'), cwd: root },
      ),
    );
    expect(missingWeight.message).toMatch(/ties requires "weight" \(model target-a\) \[\d+ tensors/);
    expect((missingWeight.details!.problems as string[]).length).toBe(1);
    const noBase = await failure(
      mergeModels(
        { merge_method: 'task_arithmetic', models: [{ model: 'target-a', parameters: { weight: 1 } }] },
        { out: join(root, 'x'), cwd: root },
      ),
    );
    expect(noBase.message).toMatch(/base_model: task_arithmetic merges deltas against a base model/);
    const unknown = await failure(
      mergeModels({ ...varmConfig(), merge_method: 'varm' }, { out: join(root, 'x'), cwd: root }),
    );
    expect(unknown.message).toMatch(
      /Unknown merge method "varm".*Known: dare_linear, dare_ties, linear, sce, slerp, task_arithmetic, ties, variation_ratio/,
    );
    const zero = await failure(
      mergeModels(
        {
          merge_method: 'linear',
          models: [
            { model: 'target-a', parameters: { weight: 0 } },
            { model: 'target-b', parameters: { weight: 0 } },
          ],
        },
        { out: join(root, 'x'), cwd: root },
      ),
    );
    expect(zero.message).toMatch(/weights of <tensor> sum to zero/);
  });

  it('refuses an existing output directory unless overwrite, and then replaces it whole', async () => {
    const out = join(root, 'existing');
    mkdirSync(out);
    writeFileSync(join(out, 'stale.txt'), 'old');
    const error = await failure(mergeModels(varmConfig(), { out, cwd: root }));
    expect(error.message).toMatch(/already exists.*--overwrite/);
    await mergeModels(varmConfig(), { out, cwd: root, overwrite: true });
    expect(existsSync(join(out, 'stale.txt'))).toBe(false);
    expect(existsSync(join(out, 'merge-report.json'))).toBe(true);
  });

  it('crops larger embeddings to the base vocabulary, or refuses them when configured', async () => {
    const big = tinyModel(4, { vocab: VOCAB + 4 });
    for (const name of Object.keys(big)) {
      if (!name.includes('embed') && !name.includes('lm_head')) big[name] = targetA[name]!;
    }
    writeCheckpoint(join(root, 'big-vocab'), big, modelConfig(VOCAB + 4));
    const out = join(root, 'out-crop');
    const result = await mergeModels(
      { ...varmConfig(), models: [{ model: 'target-a' }, { model: 'big-vocab' }] },
      { out, cwd: root },
    );
    expect(result.warnings.join('\n')).toMatch(/cropped/);
    expect(readOutput(out)['lm_head.weight']!.shape).toEqual([VOCAB, HIDDEN]);
    const refused = await failure(
      mergeModels(
        { ...varmConfig(), models: [{ model: 'target-a' }, { model: 'big-vocab' }], vocab_mismatch: 'error' },
        { out: join(root, 'out-refused'), cwd: root },
      ),
    );
    expect(refused.message).toMatch(/vocab_size 16 differs.*vocab_mismatch: error/);
  });

  it('never leaves a complete-looking directory when a merge fails midway (incl. a full disk)', async () => {
    let calls = 0;
    const failing = (errno?: string) =>
      defineMergeMethod({
        name: 'fails_midway',
        merge({ base }) {
          if (++calls === 5) {
            if (errno)
              throw Object.assign(new Error(`${errno}: no space left on device, write`), { code: errno });
            throw new Error('boom');
          }
          return base!;
        },
      });
    const leftover = join(root, 'out-leftover.partial-99999');
    mkdirSync(leftover);
    mkdirSync(join(root, 'out-leftover.replaced-99998'));
    const warned = await mergeModels(varmConfig(), { out: join(root, 'out-leftover'), cwd: root });
    // pid 99999 does not run here: its partial output is removed, and said so.
    expect(warned.warnings.join('\n')).toMatch(
      /removed .*out-leftover\.partial-99999: left by an interrupted merge whose process no longer runs/,
    );
    expect(existsSync(leftover)).toBe(false);
    expect(warned.warnings.join('\n')).toMatch(
      /out-leftover\.replaced-99998: the previous out-leftover, set aside by an interrupted --overwrite merge/,
    );
    for (const errno of [undefined, 'ENOSPC']) {
      calls = 0;
      const out = join(root, `out-failing-${errno ?? 'error'}`);
      const registry = createMergeRegistry({ ...builtinMergeMethods, failing: failing(errno) });
      const error = await failure(
        mergeModels({ ...varmConfig(), merge_method: 'fails_midway' }, { out, cwd: root, registry }),
      );
      if (errno) expect(isFuseChatError(error, 'MERGE_DISK_FULL')).toBe(true);
      else expect(error.message).toBe('boom');
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(root).some((name) => name.includes('.partial-') && !name.endsWith('99999'))).toBe(
        false,
      );
    }
  });

  it('a process killed (SIGKILL) mid-merge leaves only a .partial- directory, which the next run removes', async () => {
    // A real kill, not a thrown error: nothing in the engine gets to clean up.
    const child = join(root, 'merge-child.mts');
    writeFileSync(
      child,
      `import { builtinMergeMethods, createMergeRegistry, defineMergeMethod, mergeModels } from ${JSON.stringify(
        pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', 'index.ts')).href,
      )};
const slow = defineMergeMethod({ name: 'slow_base', merge({ base }) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  return base;
} });
await mergeModels({ merge_method: 'slow_base', base_model: 'pivot', models: [{ model: 'target-a' }] }, {
  out: 'out-killed', cwd: ${JSON.stringify(root)}, prefetch: false,
  registry: createMergeRegistry({ ...builtinMergeMethods, slow }),
  onProgress: (event) => { if (event.task === 'merge') process.stdout.write(\`tensor \${event.completed}\\n\`); },
});
process.stdout.write('finished\\n');
`,
    );
    const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const proc = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', child], {
      cwd: packageDir,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('tensor 3\n')) {
          proc.kill('SIGKILL');
          resolve();
        }
      });
      proc.on('exit', () => reject(new Error(`the child exited before it was killed: ${output}`)));
    });
    await new Promise((resolve) => proc.on('close', resolve));
    expect(output).not.toContain('finished');
    const out = join(root, 'out-killed');
    expect(existsSync(out)).toBe(false);
    const partial = readdirSync(root).filter((name) => name.startsWith('out-killed.partial-'));
    expect(partial).toHaveLength(1);
    // Inside it, nothing carries a final weight-file name yet.
    expect(readdirSync(join(root, partial[0]!)).filter((name) => !name.startsWith('.'))).toEqual([]);
    const next = await mergeModels(varmConfig(), { out, cwd: root });
    expect(next.warnings.join('\n')).toMatch(
      /removed .*out-killed\.partial-\d+: left by an interrupted merge/,
    );
    expect(existsSync(join(root, partial[0]!))).toBe(false);
  });

  it('is deterministic under a seed (dare_ties), and different under another', async () => {
    const config = (seed: number) => ({
      merge_method: 'dare_ties',
      base_model: 'pivot',
      seed,
      parameters: { weight: 0.5, density: 0.5 },
      models: [{ model: 'target-a' }, { model: 'target-b' }],
    });
    const outputs = [];
    for (const [index, seed] of [1, 1, 2].entries()) {
      const out = join(root, `out-dare-${index}`);
      await mergeModels(config(seed), { out, cwd: root, prefetch: index !== 1 });
      outputs.push(readOutput(out)['model.layers.2.mlp.up_proj.weight']!.values);
    }
    expect(outputs[1]).toEqual(outputs[0]);
    expect(outputs[2]).not.toEqual(outputs[0]);
  });

  it('merges the same bytes on worker threads as on the main thread', async () => {
    const config = {
      merge_method: 'dare_ties',
      base_model: 'pivot',
      parameters: { weight: 0.5, density: 0.7 },
      models: [{ model: 'target-a' }, { model: 'target-b' }],
    };
    const outputs = [];
    for (const workers of [0, 2]) {
      const out = join(root, `out-workers-${workers}`);
      const result = await mergeModels(config, { out, cwd: root, workers });
      outputs.push({
        tensors: readOutput(out),
        weights: result.report.tensors.map((t) => t.changeMeanSquare),
      });
    }
    expect(outputs[1]).toEqual(outputs[0]);
  });

  it('copies the tokenizer from tokenizer_source and applies slice gradients (slerp, mergekit slices form)', async () => {
    writeCheckpoint(join(root, 'other-tokenizer'), targetA, modelConfig(), { tokenizer: 'chat-tokenizer' });
    const out = join(root, 'out-slerp');
    await mergeModels(
      {
        merge_method: 'slerp',
        base_model: 'pivot',
        tokenizer_source: 'other-tokenizer',
        slices: [
          {
            sources: [
              { model: 'pivot', layer_range: [0, LAYERS] },
              { model: 'other-tokenizer', layer_range: [0, LAYERS] },
            ],
          },
        ],
        parameters: { t: [{ filter: 'self_attn', value: [0, 1] }, { value: 0.5 }] },
      },
      { out, cwd: root },
    );
    expect(readFileSync(join(out, 'tokenizer.json'), 'utf8')).toContain('chat-tokenizer');
    const merged = readOutput(out);
    // t = 0 at layer 0 (the base), t = 1 at the last layer (the other model).
    const first = 'model.layers.0.self_attn.q_proj.weight';
    const last = `model.layers.${LAYERS - 1}.self_attn.q_proj.weight`;
    expect(merged[first]!.values).toEqual(Array.from(base[first]!.values));
    merged[last]!.values.forEach((v, i) => {
      expect(Math.abs(v - targetA[last]!.values[i]!)).toBeLessThan(1e-6);
    });
  });

  it('preflight refuses integer tensors where floats are merged, and models of another depth', async () => {
    const ints = {
      ...targetA,
      'model.norm.weight': { shape: [HIDDEN], values: new Array(HIDDEN).fill(1), dtype: 'I64' as const },
    };
    writeCheckpoint(join(root, 'int-norm'), ints, modelConfig());
    writeCheckpoint(join(root, 'deeper'), targetB, { ...modelConfig(), num_hidden_layers: LAYERS + 1 });
    const error = await failure(
      mergeModels(
        { ...varmConfig(), models: [{ model: 'int-norm' }, { model: 'deeper' }] },
        { out: join(root, 'x'), cwd: root },
      ),
    );
    expect(error.message).toMatch(/model\.norm\.weight is I64, expected a float dtype/);
    expect(error.message).toMatch(/deeper: config\.json has 4 layers .* but pivot has 3/);
  });
});
