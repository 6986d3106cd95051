import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '@fusechat/distribution-store';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { snapshotDirectory } from '../../../scripts/test-support/snapshot-directory.js';
import { captureDistributions } from './capture-distributions.js';
import { createLocalProvider } from './local-provider/create-local-provider.js';
import type { LogitsProvider } from './logits-provider.js';
import {
  CAPTURE_LENGTHS,
  CAPTURE_SETTINGS,
  captureExamples,
  fakeTokenizer,
  referenceOutputs,
  TINY_LLAMA,
  tinyModel,
} from './testing/fixtures.js';
import { TEST_BACKENDS, useBackend } from './testing/test-backends.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-capture-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `store-${dirs++}`);

const K = CAPTURE_SETTINGS.k;
const VOCAB = TINY_LLAMA.vocabSize;
const settings = CAPTURE_SETTINGS;

/** A provider that fails on its `failAt`-th call (1-based), as a crash would; counts calls. */
function failingAfter(provider: LogitsProvider, failAt: number): LogitsProvider & { calls: number } {
  const wrapped = {
    ...provider,
    calls: 0,
    async topK(sequences: readonly Int32Array[], options: { k: number }) {
      wrapped.calls++;
      if (wrapped.calls === failAt) throw new Error('simulated crash');
      return provider.topK(sequences, options);
    },
  };
  return wrapped;
}

describe.each(TEST_BACKENDS)('captureDistributions (%s)', (backend) => {
  it('stores, in data order, top-k, next-token log-probs and CE matching a float64 reference', async () => {
    await useBackend(backend);
    const model = tinyModel();
    const out = freshDir();
    try {
      const provider = createLocalProvider(model, fakeTokenizer(VOCAB), { batchTokens: 16 });
      const examples = captureExamples(CAPTURE_LENGTHS, VOCAB);
      const before = tf.memory().numTensors;
      const progress: number[] = [];
      const summary = await captureDistributions({
        ...settings,
        provider,
        examples,
        out,
        totalExamples: examples.length,
        onProgress: (event) => progress.push(event.completed),
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(summary).toMatchObject({ alreadyComplete: false, resumedFrom: 0, examples: 23, flagged: 0 });
      expect(summary.tokens).toBe(CAPTURE_LENGTHS.reduce((a, b) => a + b, 0));
      expect(summary.bytes).toBeGreaterThan(0);
      expect(summary.manifest.shards.length).toBeGreaterThan(1);
      expect(progress.at(-1)).toBe(23);

      const store = await openStore(out, { expect: settings.identity, requireComplete: true });
      try {
        let index = 0;
        for await (const record of store) {
          const example = examples[index++]!;
          expect(record.id).toBe(example.id);
          expect(Array.from(record.inputIds)).toEqual(Array.from(example.inputIds));
          expect(Array.from(record.labelMask)).toEqual(Array.from(example.labelMask));
          const reference = await referenceOutputs(model, example.inputIds, K);
          expect(Array.from(record.topK.ids)).toEqual(reference.ids.flat());
          // fp16 keeps 11 significant bits.
          reference.values.flat().forEach((value, i) => {
            expect(Math.abs(record.topK.logits[i]! - value)).toBeLessThan(Math.abs(value) * 2 ** -10 + 1e-4);
          });
          let total = 0;
          let count = 0;
          reference.nextTokenLogProbs.forEach((value, t) => {
            if (t + 1 < example.inputIds.length && example.labelMask[t + 1] === 1) {
              total -= value;
              count++;
            }
            if (Number.isNaN(value)) expect(record.nextTokenLogProbs![t]).toBeNaN();
            else
              expect(Math.abs(record.nextTokenLogProbs![t]! - value)).toBeLessThan(
                Math.abs(value) * 2 ** -10 + 1e-4,
              );
          });
          if (count === 0) expect(record.ce).toBeNaN();
          else expect(record.ce).toBeCloseTo(total / count, 4);
        }
        expect(index).toBe(23);
      } finally {
        await store.close();
      }
    } finally {
      model.dispose();
    }
  });

  it('flags examples whose logits are not finite, counts them, and goes on', async () => {
    await useBackend(backend);
    const model = tinyModel();
    try {
      const examples = captureExamples(CAPTURE_LENGTHS, VOCAB);
      const poisonedToken = examples[5]!.inputIds[3]!;
      const embedding = model.weights.get('model.embed_tokens.weight')!;
      const rows = (await embedding.array()) as number[][];
      rows[poisonedToken]![1] = Number.NaN;
      const poisoned = tf.tensor2d(rows);
      embedding.assign(poisoned);
      poisoned.dispose();
      const expectedFlagged = examples.filter((e) => e.inputIds.includes(poisonedToken)).map((e) => e.id);
      expect(expectedFlagged.length).toBeGreaterThan(0);
      expect(expectedFlagged.length).toBeLessThan(examples.length);

      const out = freshDir();
      const summary = await captureDistributions({
        ...settings,
        provider: createLocalProvider(model, fakeTokenizer(VOCAB)),
        examples,
        out,
      });
      expect(summary.flagged).toBe(expectedFlagged.length);
      expect(summary.examples).toBe(examples.length - expectedFlagged.length);
      expect(summary.manifest.flagged.map((flag) => flag.id)).toEqual(expectedFlagged);
      const store = await openStore(out, { requireComplete: true });
      try {
        const ids: string[] = [];
        for await (const record of store) {
          ids.push(record.id);
          expect(record.topK.logits.every(Number.isFinite)).toBe(true);
        }
        expect(ids).toEqual(examples.map((e) => e.id).filter((id) => !expectedFlagged.includes(id)));
      } finally {
        await store.close();
      }
    } finally {
      model.dispose();
    }
  });
});

describe('captureDistributions resume', () => {
  it('a capture that crashed at several points, rerun, gives a store byte-identical to an uninterrupted one', async () => {
    await useBackend('wasm');
    const model = tinyModel();
    try {
      const provider = createLocalProvider(model, fakeTokenizer(VOCAB), { batchTokens: 16 });
      const examples = () => captureExamples(CAPTURE_LENGTHS, VOCAB);
      const reference = freshDir();
      const counting = failingAfter(provider, Number.POSITIVE_INFINITY);
      await captureDistributions({ ...settings, provider: counting, examples: examples(), out: reference });
      const windows = counting.calls;
      expect(windows).toBeGreaterThan(5);
      // Window ends by the rule of captureIntoWriter: consecutive examples up to batchTokens tokens.
      const windowEnds: number[] = [];
      let tokens = 0;
      CAPTURE_LENGTHS.forEach((length, index) => {
        if (index > 0 && tokens + length > settings.batchTokens) {
          windowEnds.push(index);
          tokens = 0;
        }
        tokens += length;
      });
      windowEnds.push(CAPTURE_LENGTHS.length);
      expect(windowEnds).toHaveLength(windows);

      const resumedFrom: number[] = [];
      for (const failAt of [2, 4, windows - 1]) {
        const out = freshDir();
        await expect(
          captureDistributions({
            ...settings,
            provider: failingAfter(provider, failAt),
            examples: examples(),
            out,
          }),
        ).rejects.toThrow('simulated crash');
        const rerun = failingAfter(provider, Number.POSITIVE_INFINITY);
        const summary = await captureDistributions({
          ...settings,
          provider: rerun,
          examples: examples(),
          out,
        });
        resumedFrom.push(summary.resumedFrom);
        // Windows that end at or before the cursor are skipped without running the model.
        expect(rerun.calls).toBe(windowEnds.filter((end) => end > summary.resumedFrom).length);
        expect(snapshotDirectory(out)).toEqual(snapshotDirectory(reference));
      }
      expect(new Set(resumedFrom).size).toBeGreaterThan(1);
      expect(Math.max(...resumedFrom)).toBeGreaterThan(windowEnds[0]!);

      // A complete store: nothing runs.
      const idle = failingAfter(provider, 1);
      const again = await captureDistributions({
        ...settings,
        provider: idle,
        examples: examples(),
        out: reference,
      });
      expect(again.alreadyComplete).toBe(true);
      expect(idle.calls).toBe(0);
      expect(snapshotDirectory(reference)).toEqual(snapshotDirectory(reference));
    } finally {
      model.dispose();
    }
  });

  it('stops on an abort signal between provider calls, leaving a store that resumes to the same bytes', async () => {
    await useBackend('cpu');
    const model = tinyModel();
    try {
      const provider = createLocalProvider(model, fakeTokenizer(VOCAB), { batchTokens: 16 });
      const examples = () => captureExamples(CAPTURE_LENGTHS, VOCAB);
      const reference = freshDir();
      await captureDistributions({ ...settings, provider, examples: examples(), out: reference });
      const out = freshDir();
      const controller = new AbortController();
      await expect(
        captureDistributions({
          ...settings,
          provider,
          examples: examples(),
          out,
          signal: controller.signal,
          onProgress: (event) => {
            if (event.completed >= 12) controller.abort();
          },
        }),
      ).rejects.toMatchObject({ code: 'CAPTURE_ABORTED' });
      const summary = await captureDistributions({ ...settings, provider, examples: examples(), out });
      expect(summary.resumedFrom).toBeGreaterThan(0);
      expect(snapshotDirectory(out)).toEqual(snapshotDirectory(reference));
    } finally {
      model.dispose();
    }
  });

  it('refuses a store captured with another identity before running the provider', async () => {
    await useBackend('cpu');
    const model = tinyModel();
    try {
      const provider = createLocalProvider(model, fakeTokenizer(VOCAB));
      const out = freshDir();
      await expect(
        captureDistributions({
          ...settings,
          provider: failingAfter(provider, 2),
          examples: captureExamples(CAPTURE_LENGTHS, VOCAB),
          out,
        }),
      ).rejects.toThrow('simulated crash');
      const other = failingAfter(provider, Number.POSITIVE_INFINITY);
      await expect(
        captureDistributions({
          ...settings,
          identity: { ...settings.identity, data: { hash: 'other-data' } },
          provider: other,
          examples: captureExamples(CAPTURE_LENGTHS, VOCAB),
          out,
        }),
      ).rejects.toMatchObject({ code: 'STORE_IDENTITY_MISMATCH' });
      expect(other.calls).toBe(0);
      await expect(
        captureDistributions({ ...settings, k: 3, provider, examples: [], out: freshDir() }),
      ).rejects.toMatchObject({ code: 'CAPTURE_INVALID_OPTIONS', field: 'identity.capture.k' });
    } finally {
      model.dispose();
    }
  });
});
