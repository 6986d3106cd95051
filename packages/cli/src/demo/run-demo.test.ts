import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { openCheckpoint } from '@fusechat/safetensors';
import { parseVocabularyMap } from '@fusechat/tokenizer-alignment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptured } from '../test-fixtures.js';
import { loadDemoTokenizer } from './demo-assets.js';
import { type DemoSummary, runDemo } from './run-demo.js';

// The whole pipeline, shrunk: one chapter, a few steps. Slow (about a minute on 2 cores).
describe('runDemo (slow)', () => {
  let out: string;
  let summary: DemoSummary;
  const lines: string[] = [];

  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
    out = await mkdtemp(join(tmpdir(), 'fusechat-demo-test-'));
    summary = await runDemo({
      out,
      trainChapters: [1],
      evalChapters: [2],
      pivotSteps: 4,
      sourceSteps: 4,
      targetSteps: 2,
      batchSize: 4,
      maxTokens: 32,
      log: (line) => lines.push(line),
    });
  }, 600_000);

  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('trains three teachers with different architectures and vocabularies', () => {
    expect(summary.conversations.train).toBeGreaterThan(10);
    expect(summary.conversations.eval).toBeGreaterThan(5);
    expect(summary.teachers.map((t) => [t.modelType, t.vocabSize])).toEqual([
      ['llama', 32000],
      ['qwen2', 151669],
      ['mistral', 32000],
    ]);
    for (const teacher of summary.teachers) {
      expect(teacher.lastLoss).toBeLessThan(teacher.firstLoss);
      expect(Number.isFinite(teacher.meanCaptureCE)).toBe(true);
    }
  });

  it('aligns each source onto the pivot: identity for the shared vocabulary, partial for Qwen3', async () => {
    const [qwen, mistral] = summary.alignment;
    expect(qwen!.source).toBe('source-qwen2');
    expect(qwen!.alignedShare).toBeGreaterThan(0.3);
    expect(qwen!.alignedShare + qwen!.oneHotShare).toBeLessThanOrEqual(1);
    expect(qwen!.exactShare).toBeGreaterThan(0.05);
    expect(qwen!.exactShare).toBeLessThan(0.5);
    expect(mistral).toMatchObject({ exactShare: 1, alignedShare: 1, oneHotShare: 0 });
    // The saved map is bound to both tokenizers' hashes.
    const map = parseVocabularyMap(await readFile(join(out, 'vocabulary-map.source-qwen2.json'), 'utf8'));
    const [qwenTokenizer, mistralTokenizer] = await Promise.all([
      loadDemoTokenizer('qwen3'),
      loadDemoTokenizer('mistral'),
    ]);
    expect([map.sourceHash, map.pivotHash]).toEqual([qwenTokenizer.hash, mistralTokenizer.hash]);
    expect(map.sourceToPivot[qwenTokenizer.tokenToId('Ġthe')!]).toBe(mistralTokenizer.tokenToId('▁the'));
  });

  it('captures and aligns through on-disk stores that name their inputs', async () => {
    const { openStore } = await import('@fusechat/distribution-store');
    const [mistral, qwen] = await Promise.all([loadDemoTokenizer('mistral'), loadDemoTokenizer('qwen3')]);
    const pivot = await openStore(join(out, 'capture', 'pivot'), {
      expect: { tokenizer: { hash: mistral.hash } },
      requireComplete: true,
    });
    const source = await openStore(join(out, 'capture', 'source-qwen2'), {
      expect: { tokenizer: { hash: qwen.hash } },
      requireComplete: true,
    });
    const aligned = await openStore(join(out, 'align', 'source-qwen2'), { requireComplete: true });
    try {
      expect(pivot.size).toBe(summary.conversations.train);
      expect((await pivot.verify()).ok).toBe(true);
      expect(aligned.manifest.identity.aligned?.pivotStore).toBe(pivot.manifest.contentHash);
      expect(aligned.manifest.identity.aligned?.sourceStore).toBe(source.manifest.contentHash);
      expect(aligned.manifest.identity.tokenizer.hash).toBe(mistral.hash);
      const first = await pivot.get(0);
      const alignedFirst = await aligned.getById(first.id);
      expect(Array.from(alignedFirst!.inputIds)).toEqual(Array.from(first.inputIds));
      // The held-out split is saved as chat JSONL beside the stores.
      const held = (await readFile(join(out, 'data', 'eval.jsonl'), 'utf8')).trim().split('\n');
      expect(held).toHaveLength(summary.conversations.eval);
      expect(JSON.parse(held[0]!).messages[1].role).toBe('assistant');
    } finally {
      await Promise.all([pivot.close(), source.close(), aligned.close()]);
    }
  });

  it('the merged model is VaRM of the saved targets against the pivot (float64 reference)', async () => {
    const names = ['pivot', 'target-qwen2', 'target-mistral', 'fusechat'];
    const checkpoints = await Promise.all(names.map((name) => openCheckpoint(join(out, 'models', name))));
    try {
      for (const tensor of ['model.layers.0.self_attn.q_proj.weight', 'model.embed_tokens.weight']) {
        const [pivot, first, second, merged] = await Promise.all(
          checkpoints.map((checkpoint) => checkpoint.readFloat32(tensor)),
        );
        const meanSquare = (target: Float32Array) =>
          target.reduce((sum, value, i) => sum + (value - pivot![i]!) ** 2, 0) / target.length;
        const [a, b] = [meanSquare(first!), meanSquare(second!)];
        expect(a + b).toBeGreaterThan(0);
        const [wa, wb] = [a / (a + b), b / (a + b)];
        let worst = 0;
        for (let i = 0; i < merged!.length; i++) {
          const expected = wa * first![i]! + wb * second![i]!;
          worst = Math.max(worst, Math.abs(merged![i]! - expected) / Math.max(1e-3, Math.abs(expected)));
        }
        expect(worst).toBeLessThan(1e-5);
      }
    } finally {
      await Promise.all(checkpoints.map((checkpoint) => checkpoint.close()));
    }
    expect(summary.mergeWeights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
  });

  it('the fusion term changed training: targets differ from the CLM-only control', async () => {
    const read = async (name: string) => {
      const checkpoint = await openCheckpoint(join(out, 'models', name));
      try {
        return await checkpoint.readFloat32('model.layers.1.mlp.down_proj.weight');
      } finally {
        await checkpoint.close();
      }
    };
    const [control, target] = await Promise.all([read('control-clm-only'), read('target-mistral')]);
    expect(control.some((value, i) => value !== target[i])).toBe(true);
  });

  it('trains every model through @fusechat/training: a metrics log and a loss curve per run', async () => {
    const runs = {
      pivot: 4,
      'source-qwen2': 4,
      'source-mistral': 4,
      'target-qwen2': 2,
      'target-mistral': 2,
      'control-clm-only': 2,
    };
    for (const [name, steps] of Object.entries(runs)) {
      const rows = (await readFile(join(out, 'train', name, 'metrics.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, number>);
      expect(rows.map((row) => row.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
      // Fusion runs log both terms of λ·CLM + (1−λ)·fusion; CLM runs have no fusion term.
      const fusion = name.startsWith('target-');
      for (const row of rows) {
        expect('fusion' in row).toBe(fusion);
        if (fusion) expect(row.loss).toBeCloseTo(0.9 * row.clm! + 0.1 * row.fusion!, 4);
      }
      expect(await readFile(join(out, 'train', name, 'loss.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>$/);
    }
  });

  it('evaluates every model on held-out data and writes a summary', async () => {
    expect(summary.evaluation.map((row) => row.model)).toEqual([
      'pivot',
      'control-clm-only',
      'target-qwen2',
      'target-mistral',
      'fusechat',
    ]);
    for (const row of summary.evaluation) {
      expect(row.tokens).toBeGreaterThan(0);
      expect(row.perplexity).toBeCloseTo(Math.exp(row.loss), 6);
    }
    const written = JSON.parse(await readFile(join(out, 'demo-summary.json'), 'utf8'));
    expect(written.evaluation).toEqual(summary.evaluation);
    // The saved held-out split reproduces a row with `fusechat eval`, as the demo tells users.
    const fused = summary.evaluation.find((row) => row.model === 'fusechat')!;
    const run = await runCaptured([
      'eval',
      '--model',
      join(out, 'models', 'fusechat'),
      '--data',
      join(out, 'data', 'eval.jsonl'),
      '--backend',
      'wasm',
    ]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as { loss: number; tokens: number };
    expect(report.tokens).toBe(fused.tokens);
    expect(report.loss).toBeCloseTo(fused.loss, 4);
    expect(lines.some((line) => line.includes('[7/7]'))).toBe(true);
  });
});
