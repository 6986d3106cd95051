import type { CaptureRecord } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import { type CaptureExample, type CaptureWriter, captureIntoWriter } from './capture-into-writer.js';
import type { LogitsProvider, ProviderOutput } from './logits-provider.js';
import { fakeTokenizer } from './testing/fixtures.js';

const identity = {
  model: { name: 'fake', configHash: 'c' },
  tokenizer: { hash: 'fake-50', vocabSize: 50 },
  data: { hash: 'd' },
  chatTemplateHash: null,
  capture: { k: 2, valueKind: 'logprobs' },
};

/** A provider whose output is a pure function of each sequence; records every call. */
function scriptedProvider(poisoned: ReadonlySet<number> = new Set()): LogitsProvider & { calls: number[][] } {
  const calls: number[][] = [];
  return {
    id: 'scripted',
    name: 'scripted',
    tokenizer: fakeTokenizer(50),
    valueKind: 'logprobs',
    calls,
    async topK(sequences, { k }) {
      calls.push(sequences.map((sequence) => sequence[0]!));
      return sequences.map((sequence): ProviderOutput => {
        const length = sequence.length;
        const ids = new Int32Array(length * k);
        const logits = new Float32Array(length * k);
        for (let i = 0; i < length * k; i++) {
          ids[i] = (sequence[0]! + i) % 50;
          logits[i] = -i - 1;
        }
        const nextTokenLogProbs = Float32Array.from({ length }, (_, t) =>
          t + 1 < length ? -(sequence[t + 1]! % 7) - 0.5 : Number.NaN,
        );
        if (poisoned.has(sequence[0]!)) logits[1] = Number.NaN;
        return { topK: { length, k, ids, logits }, nextTokenLogProbs };
      });
    },
  };
}

/** Examples whose first token is their index, lengths 1..6. */
function examples(count: number): CaptureExample[] {
  return Array.from({ length: count }, (_, index) => {
    const length = 1 + ((index * 5) % 6);
    return {
      id: `ex${index}`,
      inputIds: Int32Array.from({ length }, (_, t) => (t === 0 ? index : (index * 3 + t) % 50)),
      labelMask: Uint8Array.from({ length }, (_, t) => (t >= length / 2 ? 1 : 0)),
    };
  });
}

type MemoryWriter = CaptureWriter & { events: (string | CaptureRecord)[]; cursors: number[] };

function memoryWriter(cursor = 0): MemoryWriter {
  const events: (string | CaptureRecord)[] = [];
  const cursors: number[] = [];
  return {
    cursor,
    events,
    cursors,
    async append(record: CaptureRecord, options: { cursor: number }) {
      events.push(record);
      cursors.push(options.cursor);
    },
    async flag(id: string, reason: string, options: { cursor: number }) {
      events.push(`flag:${id}:${reason}`);
      cursors.push(options.cursor);
    },
  };
}

describe('captureIntoWriter', () => {
  it('appends in data order with cursors, CE from the log-probs and the mask, flags non-finite rows', async () => {
    const provider = scriptedProvider(new Set([4]));
    const writer = memoryWriter();
    const data = examples(9);
    const progress: number[] = [];
    const counts = await captureIntoWriter(writer, {
      provider,
      examples: data,
      k: 2,
      identity,
      batchTokens: 8,
      onProgress: (event) => progress.push(event.completed),
    });
    expect(counts).toEqual({
      resumedFrom: 0,
      examples: 8,
      tokens: data.reduce((sum, e) => sum + e.inputIds.length, 0) - data[4]!.inputIds.length,
      flagged: 1,
    });
    expect(writer.cursors).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(writer.events.map((e) => (typeof e === 'string' ? e : e.id))).toEqual([
      'ex0',
      'ex1',
      'ex2',
      'ex3',
      'flag:ex4:non-finite logits',
      'ex5',
      'ex6',
      'ex7',
      'ex8',
    ]);
    // Windows: consecutive examples up to 8 tokens (lengths 1,6,5,4,3,2,1,6,5).
    expect(provider.calls).toEqual([[0, 1], [2], [3, 4], [5, 6], [7], [8]]);
    expect(progress.at(-1)).toBe(9);
    const record = writer.events[3] as CaptureRecord; // ex3: 4 tokens, supervised t ≥ 2
    const ids = data[3]!.inputIds;
    // positions 1 and 2 predict the supervised tokens 2 and 3.
    expect(record.ce).toBeCloseTo(((ids[2]! % 7) + 0.5 + (ids[3]! % 7) + 0.5) / 2, 6);
    expect((writer.events[0] as CaptureRecord).ce).toBeNaN(); // one token: nothing predicted
  });

  it('resumes after the cursor: skips whole windows without the provider, recomputes the window it falls in', async () => {
    const full = memoryWriter();
    await captureIntoWriter(full, {
      provider: scriptedProvider(),
      examples: examples(9),
      k: 2,
      identity,
      batchTokens: 8,
    });
    const provider = scriptedProvider();
    const resumed = memoryWriter(4);
    const counts = await captureIntoWriter(resumed, {
      provider,
      examples: examples(9),
      k: 2,
      identity,
      batchTokens: 8,
    });
    expect(counts.resumedFrom).toBe(4);
    expect(provider.calls).toEqual([[3, 4], [5, 6], [7], [8]]); // the window [3, 4] straddles cursor 4
    expect(resumed.events).toEqual(full.events.slice(4));
    expect(resumed.cursors).toEqual([5, 6, 7, 8, 9]);
  });

  it('refuses malformed examples, a k that differs from the identity and data shorter than the cursor', async () => {
    const provider = scriptedProvider();
    const bad = { id: 'x', inputIds: Int32Array.from([1, 2]), labelMask: Uint8Array.from([1]) };
    await expect(
      captureIntoWriter(memoryWriter(), { provider, examples: [bad], k: 2, identity }),
    ).rejects.toMatchObject({ code: 'CAPTURE_INVALID_EXAMPLE', field: 'examples[0].labelMask' });
    await expect(
      captureIntoWriter(memoryWriter(20), { provider, examples: examples(3), k: 2, identity }),
    ).rejects.toMatchObject({ code: 'CAPTURE_INVALID_INPUT' });
    expect(provider.calls).toEqual([]);
  });
});
