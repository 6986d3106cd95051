import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import type { CaptureRecord } from '@fusechat/core';
import { createStoreWriter, openStore, type StoreIdentity } from '@fusechat/distribution-store';
import { createModel, saveModel } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
// The Arrow reader written from the spec, in the hf-datasets package's test support.
import { readArrowStream } from '../../../hf-datasets/src/testing/arrow-stream-reader.js';
import { demoTokenizerFiles } from '../demo/demo-assets.js';
import { describeFailure } from '../run-cli.js';
import { runCaptured, saveTinyLlama } from '../test-fixtures.js';
import { registerExportCommand } from './export.js';

const K = 3;
const identity = (aligned?: StoreIdentity['aligned']): StoreIdentity => ({
  model: { name: 'tiny', configHash: 'c'.repeat(64) },
  tokenizer: { hash: 't'.repeat(64), vocabSize: 100 },
  data: { hash: 'd'.repeat(64) },
  chatTemplateHash: null,
  capture: { k: K, valueKind: 'logits' },
  ...(aligned ? { aligned } : {}),
});

function record(index: number): CaptureRecord {
  const length = 3 + index;
  return {
    id: `example-${index}`,
    inputIds: Int32Array.from({ length }, (_, t) => (index * 7 + t) % 100),
    labelMask: Uint8Array.from({ length }, (_, t) => (t > 0 ? 1 : 0)),
    topK: {
      length,
      k: K,
      ids: Int32Array.from({ length: length * K }, (_, i) => (i * 13 + index) % 100),
      logits: Float32Array.from({ length: length * K }, (_, i) => 5 - (i % K) - 0.1 * index),
    },
    ce: 1 + index / 10,
  };
}

async function writeStore(dir: string, records: CaptureRecord[], id: StoreIdentity) {
  const writer = await createStoreWriter(dir, { identity: id, k: K, nextTokenLogProbs: false });
  let cursor = 0;
  for (const r of records) await writer.append(r, { cursor: ++cursor });
  return writer.finish();
}

/** Runs `fusechat export …` on a program with only this command, as runCli reports failures. */
async function runExport(argv: string[]): Promise<{ code: number; stdout: string; line?: string }> {
  const program = new Command('fusechat').exitOverride();
  registerExportCommand(program);
  const stdout: string[] = [];
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(['export', ...argv], { from: 'user' });
    return { code: 0, stdout: stdout.join('') };
  } catch (error) {
    const failure = describeFailure(error);
    return { code: failure.exitCode, stdout: stdout.join(''), line: failure.line };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

describe('fusechat export', () => {
  let root: string;
  let pivot: string;
  let aligned: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-export-'));
    pivot = join(root, 'pivot');
    aligned = join(root, 'aligned');
    const records = Array.from({ length: 5 }, (_, i) => record(i));
    const manifest = await writeStore(pivot, records, identity());
    await writeStore(
      aligned,
      records.map((r) => ({ ...r, ce: r.ce + 1 })),
      identity({
        pivotStore: manifest.contentHash,
        sourceStore: 's'.repeat(64),
        vocabularyMapHash: 'v'.repeat(64),
        mapping: 'exact',
      }),
    );
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('exports a pivot store and prints where it went and how to load it', async () => {
    const out = join(root, 'pivot-dataset');
    const result = await runExport([pivot, '--format', 'hf-datasets', '--out', out]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^exported 5 examples \(25 tokens, longest 7\) as a representation dataset/,
    );
    expect(result.stdout).toContain(
      'columns    input_ids, attention_mask, labels, per_step_logits, per_step_indices, metric_ce',
    );
    expect(result.stdout).toContain(`datasets.load_from_disk(${JSON.stringify(out)})["train"]`);
    expect(readdirSync(join(out, 'train')).sort()).toEqual([
      'data-00000-of-00001.arrow',
      'dataset_info.json',
      'state.json',
    ]);
  });

  it('exports an aligned store joined with its pivot, with --json', async () => {
    const out = join(root, 'pair-dataset');
    const result = await runExport([
      aligned,
      '--pivot',
      pivot,
      '--out',
      out,
      '--max-shard-size',
      '1MB',
      '--json',
    ]);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({
      kind: 'pairwise-fusion',
      examples: 5,
      tokens: 25,
      files: [{ examples: 5 }],
    });
    expect(summary.columns.map((c: { name: string }) => c.name).slice(-3)).toEqual([
      'fused_per_step_logits',
      'fused_per_step_indices',
      'fused_metric_ce',
    ]);
    const info = JSON.parse(readFileSync(join(out, 'train', 'dataset_info.json'), 'utf8'));
    expect(info.features.fused_metric_ce).toEqual({ dtype: 'float64', _type: 'Value' });
  });

  it('fails with one coded line on bad input', async () => {
    const unknown = await runExport([pivot, '--format', 'parquet', '--out', join(root, 'x')]);
    expect(unknown.code).toBe(1);
    expect(unknown.line).toMatch(
      /Unknown export format "parquet".*Known: hf-datasets.*\[CLI_EXPORT_UNKNOWN_FORMAT\]$/,
    );
    const noPivot = await runExport([aligned, '--out', join(root, 'y')]);
    expect(noPivot.line).toMatch(/--pivot.*\[HF_EXPORT_PIVOT_REQUIRED\]$/);
    const missing = await runExport([join(root, 'nothing'), '--out', join(root, 'z')]);
    expect(missing.line).toMatch(/\[STORE_NOT_FOUND\]$/);
    const size = await runExport([pivot, '--out', join(root, 'w'), '--max-shard-size', 'lots']);
    expect(size.line).toMatch(/\[CLI_INVALID_SIZE\]$/);
    const exists = await runExport([pivot, '--out', join(root, 'pivot-dataset')]);
    expect(exists.line).toMatch(/already exists.*\[OUTPUT_EXISTS\]$/);
    for (const name of ['x', 'y', 'z', 'w']) expect(existsSync(join(root, name))).toBe(false);
  });
});

describe('fusechat capture → align → export, end to end with tiny models', () => {
  let root: string;
  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-cli-export-e2e-'));
  }, 60_000);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("joins a real aligned store with its pivot store into FuseChat's columns", async () => {
    const QWEN3 = join(demoTokenizerFiles('qwen3').tokenizerJson, '..');
    const pivotModel = join(root, 'pivot-model');
    const sourceModel = join(root, 'qwen-model');
    await saveTinyLlama(pivotModel, 3);
    const qwen = await loadTokenizer(QWEN3);
    const source = createModel(
      {
        modelType: 'qwen2',
        vocabSize: qwen.vocabSize,
        hiddenSize: 16,
        intermediateSize: 32,
        numHiddenLayers: 1,
        numAttentionHeads: 2,
        numKeyValueHeads: 1,
        tieWordEmbeddings: true,
        eosTokenId: qwen.specialTokens.eos ?? null,
        initializerRange: 0.2,
      },
      { seed: 5 },
    );
    await saveModel(source, sourceModel, { tokenizerDirectory: QWEN3 });
    source.dispose();
    const data = join(root, 'train.jsonl');
    const texts = [
      'Call me Ishmael. Some years ago I thought I would sail about a little.',
      'It is a way I have of driving off the spleen and regulating the circulation.',
      'Whenever I find myself growing grim about the mouth, I account it high time to get to sea.',
    ];
    writeFileSync(data, texts.map((text, i) => JSON.stringify({ id: `t${i}`, text })).join('\n'));
    const capture = (model: string, out: string) =>
      runCaptured([
        'capture',
        '--model',
        model,
        '--data',
        data,
        '--out',
        out,
        '--top-k',
        '4',
        '--backend',
        'cpu',
      ]);
    const pivotStore = join(root, 'capture-pivot');
    const sourceStore = join(root, 'capture-qwen');
    const alignedStore = join(root, 'align-qwen');
    expect((await capture(pivotModel, pivotStore)).code).toBe(0);
    expect((await capture(sourceModel, sourceStore)).code).toBe(0);
    const align = await runCaptured([
      'align',
      '--pivot',
      pivotStore,
      '--source',
      sourceStore,
      '--pivot-model',
      pivotModel,
      '--source-model',
      sourceModel,
      '--mapping',
      'min-edit-distance',
      '--workers',
      '1',
      '--out',
      alignedStore,
    ]);
    expect(align.code).toBe(0);

    const out = join(root, 'export');
    const result = await runExport([alignedStore, '--pivot', pivotStore, '--out', out]);
    expect(result.code).toBe(0);
    const stream = readArrowStream(readFileSync(join(out, 'train', 'data-00000-of-00001.arrow')));
    expect(stream.endOfStream).toBe(true);
    const batch = stream.batches[0]!;
    const column = (name: string) => batch.columns.get(name)!;
    const rows = (record: CaptureRecord) =>
      Array.from({ length: record.topK.length }, (_, t) => {
        const ids: number[] = [];
        const values: number[] = [];
        for (let slot = 0; slot < record.topK.k; slot++) {
          const id = record.topK.ids[t * record.topK.k + slot]!;
          if (id === -1) continue;
          ids.push(id);
          values.push(record.topK.logits[t * record.topK.k + slot]!);
        }
        return { ids, values };
      });
    const pivot = await openStore(pivotStore);
    const aligned = await openStore(alignedStore);
    try {
      expect(batch.length).toBe(aligned.size);
      let index = 0;
      let shortRows = 0;
      for await (const sourceRecord of aligned) {
        const pivotRecord = (await pivot.getById(sourceRecord.id))!;
        expect(column('input_ids')[index]).toEqual(Array.from(pivotRecord.inputIds));
        expect(column('labels')[index]).toEqual(
          Array.from(pivotRecord.inputIds, (id, t) => (pivotRecord.labelMask[t] === 1 ? id : -100)),
        );
        expect(column('per_step_indices')[index]).toEqual(rows(pivotRecord).map((r) => r.ids));
        expect(column('per_step_logits')[index]).toEqual(rows(pivotRecord).map((r) => r.values));
        expect(column('fused_per_step_indices')[index]).toEqual(rows(sourceRecord).map((r) => r.ids));
        expect(column('fused_per_step_logits')[index]).toEqual(rows(sourceRecord).map((r) => r.values));
        expect(column('metric_ce')[index]).toBe(pivotRecord.ce);
        expect(column('fused_metric_ce')[index]).toBe(sourceRecord.ce);
        shortRows += rows(sourceRecord).filter((r) => r.ids.length < 4).length;
        index++;
      }
      expect(index).toBe(3);
      // One-hot and deduplicated rows hold fewer than k entries: the variable-width path ran.
      expect(shortRows).toBeGreaterThan(0);
    } finally {
      await Promise.all([pivot.close(), aligned.close()]);
    }
  }, 120_000);
});
