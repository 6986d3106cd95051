// A real SIGKILL of a training process mid-run, then a rerun: the metrics log must come out
// line by line identical to an uninterrupted run's (timing aside), the final model byte-identical,
// and save_total_limit honoured.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runSourceChild } from '../../../../scripts/run-source-child.mjs';
import { metricsWithoutTiming } from '../testing/trainer-fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, '..', '..');
const child = join(here, '..', 'testing', 'train-child.ts');
const root = mkdtempSync(join(tmpdir(), 'fusechat-train-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs the child on `dir`; SIGKILLs it once it reports step `killAt`, if given. */
async function runChild(dir: string, variant: string, killAt?: number): Promise<string> {
  const result = await runSourceChild(child, [dir, killAt === undefined ? '0' : '200', variant], {
    cwd: packageDir,
    killWhen: (stdout) =>
      killAt !== undefined && [...stdout.matchAll(/step (\d+)/g)].some((match) => Number(match[1]) >= killAt),
  });
  if (killAt === undefined && result.code !== 0)
    throw new Error(`train child failed (${result.code}): ${result.stderr}`);
  return result.stdout;
}

function outputs(dir: string) {
  const entries = readdirSync(dir).sort();
  const modelFile = join(dir, 'model', 'model.safetensors');
  return {
    entries,
    model: readFileSync(modelFile).toString('base64'),
    adapter: existsSync(join(dir, 'adapter'))
      ? readFileSync(join(dir, 'adapter', 'adapter_model.safetensors')).toString('base64')
      : undefined,
  };
}

describe('resume after SIGKILL', () => {
  for (const [variant, kills] of [
    ['full', [3, 6]],
    ['lora', [5]],
  ] as const) {
    it(`${variant} fine-tuning: killed at step ${kills.join(' and ')}, resumed — identical to an uninterrupted run`, async () => {
      const reference = join(root, `${variant}-reference`);
      expect(await runChild(reference, variant)).toContain('finished resumedFrom 0');
      const expected = outputs(reference);
      // 8 steps, a checkpoint every 2, at most 2 kept.
      expect(expected.entries).toEqual([
        ...(variant === 'lora' ? ['adapter'] : []),
        'checkpoint-6',
        'checkpoint-8',
        'loss.svg',
        'metrics.jsonl',
        'model',
      ]);
      const dir = join(root, `${variant}-killed`);
      for (const killAt of kills) {
        const killed = await runChild(dir, variant, killAt);
        expect(killed).not.toContain('finished');
      }
      const rerun = await runChild(dir, variant);
      const resumedFrom = Number(/finished resumedFrom (\d+)/.exec(rerun)![1]);
      expect(resumedFrom).toBeGreaterThan(0);
      expect(rerun).not.toContain(`step ${resumedFrom}\n`); // nothing before the checkpoint is redone
      expect(await metricsWithoutTiming(join(dir, 'metrics.jsonl'))).toEqual(
        await metricsWithoutTiming(join(reference, 'metrics.jsonl')),
      );
      expect(outputs(dir)).toEqual(expected);
    }, 120_000);
  }
});
