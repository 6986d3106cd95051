import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { openStore } from '@fusechat/distribution-store';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptureAndAlign } from './main.js';

describe('example: capture and align', () => {
  let root: string;
  const lines: string[] = [];
  let result: Awaited<ReturnType<typeof runCaptureAndAlign>>;

  beforeAll(async () => {
    await initBackend('wasm', { quiet: true });
    root = mkdtempSync(join(tmpdir(), 'fusechat-example-capture-'));
    result = await runCaptureAndAlign(root, { examples: 8, log: (line) => lines.push(line) });
  }, 300_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('captures both models into complete stores named by their tokenizers', async () => {
    for (const [name, dir] of [
      ['pivot', result.pivotDir],
      ['source', result.sourceDir],
    ] as const) {
      const tokenizer = await loadTokenizer(dir);
      const store = await openStore(join(root, 'capture', name), {
        expect: { tokenizer: { hash: tokenizer.hash } },
        requireComplete: true,
      });
      expect(store.size).toBe(8);
      expect((await store.verify()).ok).toBe(true);
      await store.close();
    }
    expect(lines[0]).toMatch(/captured pivot: 8 examples/);
  });

  it('the aligned store sits on pivot positions and names the pivot store', async () => {
    const pivot = await openStore(join(root, 'capture', 'pivot'));
    const aligned = await openStore(join(root, 'align', 'source'), { requireComplete: true });
    try {
      expect(aligned.manifest.identity.aligned?.pivotStore).toBe(pivot.manifest.contentHash);
      for await (const record of pivot) {
        const other = await aligned.getById(record.id);
        expect(Array.from(other!.inputIds)).toEqual(Array.from(record.inputIds));
      }
      expect(result.aligned.origins.mapped).toBeGreaterThan(0.3);
    } finally {
      await Promise.all([pivot.close(), aligned.close()]);
    }
    expect(lines.at(-1)).toMatch(/pivot → .* source → /);
  });
});
