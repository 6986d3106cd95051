import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFuseChatError } from '@fusechat/core';
import { afterAll, describe, expect, it } from 'vitest';
import { readTrainerState } from './list-checkpoints.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-trainer-state-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('readTrainerState', () => {
  it('names a damaged or foreign trainer_state.json as TRAIN_CHECKPOINT_CORRUPT with its path', async () => {
    for (const [name, text] of [
      ['truncated', '{"format": "fusechat-trainer-state", "globalStep": 3'],
      ['foreign', '{"global_step": 3}'],
    ] as const) {
      const dir = join(root, name);
      rmSync(dir, { recursive: true, force: true });
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dir);
      writeFileSync(join(dir, 'trainer_state.json'), text);
      const error = await readTrainerState(dir).catch((caught: unknown) => caught);
      expect(isFuseChatError(error, 'TRAIN_CHECKPOINT_CORRUPT')).toBe(true);
      expect((error as Error).message).toContain(join(dir, 'trainer_state.json'));
    }
  });
});
