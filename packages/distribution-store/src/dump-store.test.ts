import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createStoreWriter } from './create-store-writer.js';
import { dumpRecord, dumpStore, inspectStore } from './dump-store.js';
import { openStore } from './open-store.js';
import { testIdentity } from './testing/fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-store-dump-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const record = (id: string, first: number) => ({
  id,
  inputIds: new Int32Array([first, 7, 9]),
  labelMask: new Uint8Array([0, 1, 1]),
  topK: {
    length: 3,
    k: 3,
    ids: new Int32Array([7, 8, 1, 9, 2, -1, 4, -1, -1]),
    logits: new Float32Array([
      2.5,
      1.0001,
      -3,
      4,
      0.5,
      Number.NEGATIVE_INFINITY,
      1,
      Number.NEGATIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]),
  },
  ce: 0.75,
  nextTokenLogProbs: new Float32Array([-0.5, -1.25, Number.NaN]),
});

describe('dump and inspect', () => {
  it('dumpRecord: decoded rows best first, short rows, NaN as null', () => {
    expect(dumpRecord(record('a', 3))).toEqual({
      id: 'a',
      input_ids: [3, 7, 9],
      label_mask: [0, 1, 1],
      topk_ids: [[7, 8, 1], [9, 2], [4]],
      topk_logits: [[2.5, Math.fround(1.0001), -3], [4, 0.5], [1]],
      ce: 0.75,
      next_token_logprobs: [-0.5, -1.25, null],
    });
  });

  it('dumpStore (all, limit, ids) and inspectStore from a written store', async () => {
    const dir = join(root, 'store');
    const writer = await createStoreWriter(dir, {
      identity: testIdentity({}, 20),
      k: 3,
      nextTokenLogProbs: true,
    });
    await writer.append(record('a', 3), { cursor: 1 });
    await writer.flag('broken', 'NaN logits at position 2', { cursor: 2 });
    await writer.append(record('b', 4), { cursor: 3 });
    await writer.finish();
    const store = await openStore(dir);
    const all = [];
    for await (const line of dumpStore(store)) all.push(line);
    expect(all.map((line) => line.id)).toEqual(['a', 'b']);
    // fp16: 1.0001 → 1 (the nearest half), exact values unchanged
    expect(all[0]!.topk_logits[0]).toEqual([2.5, 1, -3]);
    const limited = [];
    for await (const line of dumpStore(store, { limit: 1 })) limited.push(line.id);
    expect(limited).toEqual(['a']);
    const missing: string[] = [];
    const byId = [];
    for await (const line of dumpStore(store, { ids: ['b', 'zzz', 'a'], missing })) byId.push(line.id);
    expect(byId).toEqual(['b', 'a']);
    expect(missing).toEqual(['zzz']);
    const summary = inspectStore(store);
    expect(summary).toMatchObject({
      model: 'tiny-llama',
      examples: 2,
      tokens: 6,
      supervisedTokens: 4,
      k: 3,
      complete: true,
      flaggedCount: 1,
      flagged: [{ id: 'broken', reason: 'NaN logits at position 2' }],
      aligned: null,
    });
    expect(summary.bytesPerToken).toBeCloseTo(summary.bytes / 6);
    await store.close();
  });
});
