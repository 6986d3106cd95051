import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDuration } from '@fusechat/core';
import type { Command } from 'commander';
import { runDemo } from '../demo/run-demo.js';
import { backendOption, initCommandBackend, threadsOption } from '../options/backend-option.js';
import { NON_NEGATIVE_INTEGER, POSITIVE_INTEGER, parseNumberOption } from '../options/parse-number-option.js';

/**
 * `fusechat demo`: the built-in small FuseChat pipeline on real tokenizers and real text (see
 * `runDemo`), CPU by default.
 *
 * @example
 * ```ts
 * registerDemoCommand(program);
 * await program.parseAsync(['demo', '--out', 'fusechat-demo'], { from: 'user' });
 * ```
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'Run the built-in small FuseChat pipeline: train three small teachers with different ' +
        'architectures and tokenizers on Moby-Dick conversations, capture, align, fuse (MinCE), ' +
        'train one target per source with 0.9·CLM + 0.1·fusion, merge with VaRM, evaluate.',
    )
    .option('--out <dir>', 'where models, vocabulary maps and the summary go (default: a temp dir)')
    .option('--pivot-steps <n>', 'optimizer steps of the pivot teacher', '20')
    .option('--source-steps <n>', 'optimizer steps of each source teacher', '60')
    .option('--target-steps <n>', 'optimizer steps per target', '20')
    .option('--batch-size <n>', 'conversations per batch', '8')
    .option('--seed <n>', 'seed of every random choice', '7')
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(
      async (options: {
        out?: string;
        pivotSteps: string;
        sourceSteps: string;
        targetSteps: string;
        batchSize: string;
        seed: string;
        backend: string;
        threads?: string;
      }) => {
        const pivotSteps = parseNumberOption(options.pivotSteps, 'pivot-steps', POSITIVE_INTEGER);
        const sourceSteps = parseNumberOption(options.sourceSteps, 'source-steps', POSITIVE_INTEGER);
        const targetSteps = parseNumberOption(options.targetSteps, 'target-steps', POSITIVE_INTEGER);
        const batchSize = parseNumberOption(options.batchSize, 'batch-size', POSITIVE_INTEGER);
        const seed = parseNumberOption(options.seed, 'seed', NON_NEGATIVE_INTEGER);
        const backend = await initCommandBackend(options);
        const out = options.out ?? join(tmpdir(), `fusechat-demo-${process.pid}`);
        console.log(`fusechat demo — backend ${backend.name}, output in ${out}`);
        const summary = await runDemo({
          out,
          pivotSteps,
          sourceSteps,
          targetSteps,
          batchSize,
          seed,
          log: (line) => console.log(line),
        });
        const byName = (name: string) => summary.evaluation.find((row) => row.model === name);
        const [pivot, control, fused] = [byName('pivot'), byName('control-clm-only'), byName('fusechat')];
        const targets = summary.evaluation.filter((row) => row.model.startsWith('target-'));
        const bestTarget = targets.reduce<(typeof targets)[number] | undefined>(
          (best, row) => (best === undefined || row.loss < best.loss ? row : best),
          undefined,
        );
        // Fusion is credited only against the control trained with CLM alone for the same steps,
        // and the merge only against the best single target.
        const verdict =
          control === undefined || fused === undefined
            ? ''
            : `${
                fused.loss < control.loss
                  ? ' — fusion beat the CLM-only control'
                  : ' — fusion did NOT beat the CLM-only control: the gain over the pivot here is what the extra CLM steps did'
              }${
                bestTarget === undefined
                  ? ''
                  : fused.loss < bestTarget.loss
                    ? `; the merge beat the best single target (${bestTarget.model})`
                    : `; the merge did NOT beat the best single target (${bestTarget.model})`
              }`;
        console.log(
          `\ndone in ${formatDuration(summary.seconds)}: held-out perplexity ${pivot?.perplexity.toFixed(2)} (pivot), ` +
            `${control?.perplexity.toFixed(2)} (CLM-only control), ` +
            `${bestTarget === undefined ? '' : `${bestTarget.perplexity.toFixed(2)} (best target, ${bestTarget.model}), `}` +
            `${fused?.perplexity.toFixed(2)} (fused, VaRM)${verdict}. ` +
            `Models are Hugging Face checkpoints under ${join(out, 'models')}; the summary is ${join(out, 'demo-summary.json')}.\n` +
            `Reproduce a row: fusechat eval --model ${join(out, 'models', 'fusechat')} --data ${join(out, 'data', 'eval.jsonl')}`,
        );
      },
    );
}
