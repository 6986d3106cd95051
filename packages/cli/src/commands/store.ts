import { formatBytes, InvalidInputError } from '@fusechat/core';
import { dumpRecord, inspectStore, openStore } from '@fusechat/distribution-store';
import type { Command } from 'commander';
import { backendOption } from '../options/backend-option.js';
import { POSITIVE_INTEGER, parseNumberOption } from '../options/parse-number-option.js';

/**
 * `fusechat store inspect|dump|verify STORE`: the human door of the binary distribution store —
 * a summary, the records as JSONL (decoded values, store order), and a re-hash of every shard.
 *
 * @example
 * ```ts
 * registerStoreCommand(program);
 * await program.parseAsync(['store', 'dump', 'run/capture/pivot', '--limit', '2'], { from: 'user' });
 * ```
 */
export function registerStoreCommand(program: Command): void {
  const store = program
    .command('store')
    .description(
      'Look into a distribution store: inspect (summary), dump (JSONL records), verify (re-hash).',
    );

  store
    .command('inspect')
    .description('Summary of a store: model, tokenizer, counts, bytes per token, flagged examples.')
    .argument('<store>', 'store directory')
    // Accepted like on every command; reading a store computes nothing on a backend.
    .addOption(backendOption())
    .option('--json', 'print the summary as one JSON object')
    .action(async (dir: string, options: { json?: boolean }) => {
      const opened = await openStore(dir);
      try {
        const summary = inspectStore(opened);
        if (options.json) {
          process.stdout.write(`${JSON.stringify(summary)}\n`);
          return;
        }
        const manifest = opened.manifest;
        const lines = [
          `store      ${dir} (format ${manifest.formatVersion}, ${manifest.complete ? 'complete' : 'INCOMPLETE — rerun its capture to resume'})`,
          `model      ${manifest.identity.model.name} (config ${manifest.identity.model.configHash.slice(0, 12)}…)`,
          `tokenizer  ${manifest.identity.tokenizer.hash.slice(0, 12)}… (${manifest.identity.tokenizer.vocabSize} ids)`,
          `data       ${manifest.identity.data.hash.slice(0, 12)}…, chat template ${manifest.identity.chatTemplateHash?.slice(0, 12) ?? 'none'}`,
          ...(manifest.identity.aligned === undefined
            ? []
            : [
                `aligned    onto pivot store ${manifest.identity.aligned.pivotStore.slice(0, 12)}… with a ${manifest.identity.aligned.mapping} map (${manifest.identity.aligned.vocabularyMapHash.slice(0, 12)}…)`,
              ]),
          `top-k      k = ${manifest.k}, values ${manifest.valueEncoding}${manifest.hasNextTokenLogProbs ? ', next-token log-probs' : ''}`,
          `examples   ${summary.examples} (${summary.tokens} tokens), ${summary.flagged.length} flagged`,
          `size       ${formatBytes(summary.bytes)} in ${manifest.shards.length} shard(s), ${summary.bytesPerToken?.toFixed(2) ?? '–'} B/token`,
          ...summary.flagged.slice(0, 10).map((flag) => `  flagged  ${flag.id}: ${flag.reason}`),
          ...(summary.flagged.length > 10
            ? [`  … and ${summary.flagged.length - 10} more (--json lists all)`]
            : []),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        await opened.close();
      }
    });

  store
    .command('dump')
    .description(
      'Print records as JSONL in store order: id, input_ids, label_mask, topk_ids, topk_logits (rows best first), ce, next_token_logprobs.',
    )
    .argument('<store>', 'store directory')
    // Accepted like on every command; reading a store computes nothing on a backend.
    .addOption(backendOption())
    .option('--limit <n>', 'at most this many records')
    .option('--ids <ids>', 'only these example ids (comma-separated), in the order given')
    .action(async (dir: string, options: { limit?: string; ids?: string }) => {
      const limit =
        options.limit === undefined
          ? Number.POSITIVE_INFINITY
          : parseNumberOption(options.limit, 'limit', POSITIVE_INTEGER);
      const opened = await openStore(dir);
      try {
        const write = (line: string) =>
          new Promise<void>((resolve) => {
            if (process.stdout.write(line)) resolve();
            else process.stdout.once('drain', resolve);
          });
        let written = 0;
        if (options.ids !== undefined) {
          const ids = options.ids
            .split(',')
            .map((id) => id.trim())
            .filter((id) => id !== '');
          for (const id of ids) {
            if (written >= limit) break;
            const record = await opened.getById(id);
            if (record === undefined) {
              throw new InvalidInputError(`${dir} has no example with id "${id}".`, {
                code: 'CLI_STORE_UNKNOWN_ID',
                field: 'ids',
              });
            }
            await write(`${JSON.stringify(dumpRecord(record))}\n`);
            written++;
          }
          return;
        }
        for await (const record of opened) {
          if (written >= limit) break;
          await write(`${JSON.stringify(dumpRecord(record))}\n`);
          written++;
        }
      } finally {
        await opened.close();
      }
    });

  store
    .command('verify')
    .description('Re-hash every shard and index file against the manifest; exit 1 when anything differs.')
    .argument('<store>', 'store directory')
    // Accepted like on every command; reading a store computes nothing on a backend.
    .addOption(backendOption())
    .action(async (dir: string) => {
      const opened = await openStore(dir);
      try {
        const result = await opened.verify();
        if (!result.ok) {
          for (const problem of result.problems) process.stderr.write(`fusechat: ${problem}\n`);
          throw new InvalidInputError(`${dir} failed verification (${result.problems.length} problem(s)).`, {
            code: 'CLI_STORE_VERIFY_FAILED',
          });
        }
        process.stdout.write(
          `${dir}: ok — ${opened.manifest.shards.length} shard(s), ${opened.size} examples, checksums match.\n`,
        );
      } finally {
        await opened.close();
      }
    });
}
