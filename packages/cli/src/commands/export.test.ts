import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CaptureRecord } from '@fusechat/core';
import { createStoreWriter, type StoreIdentity } from '@fusechat/distribution-store';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeFailure } from '../run-cli.js';
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
