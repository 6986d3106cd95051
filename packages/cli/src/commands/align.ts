import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  createConsoleLogger,
  createProgressPrinter,
  FileFormatError,
  formatDuration,
  type TokenizerLike,
} from '@fusechat/core';
import { type DistributionStore, openStore } from '@fusechat/distribution-store';
import {
  buildVocabularyMap,
  builtinVocabularyMappers,
  type CoTokenizedText,
  loadTokenizer,
  parseVocabularyMap,
  type VocabularyMap,
} from '@fusechat/tokenizer-alignment';
import { type Command, Option } from 'commander';
import { backendOption } from '../options/backend-option.js';
import { resolveModelOption } from '../options/model-reference.js';
import { POSITIVE_INTEGER, parseNumberOption } from '../options/parse-number-option.js';

/**
 * `fusechat align --pivot STORE --source STORE --pivot-model DIR --source-model DIR --mapping M --out STORE`:
 * builds (or reads) the source → pivot vocabulary map, DTW-aligns every example of the source
 * store to the pivot store's and writes the aligned store, with the map as `vocabulary-map.json`
 * inside it.
 *
 * @example
 * ```ts
 * registerAlignCommand(program);
 * await program.parseAsync(['align', '--pivot', 'cap/pivot', '--source', 'cap/qwen', '--pivot-model', 'models/pivot',
 *   '--source-model', 'models/qwen', '--mapping', 'min-edit-distance', '--out', 'align/qwen'], { from: 'user' });
 * ```
 */
export function registerAlignCommand(program: Command): void {
  program
    .command('align')
    .description(
      "Align a source model's distribution store onto the pivot's: vocabulary map, DTW token alignment, re-indexing onto pivot positions and ids.",
    )
    .requiredOption('--pivot <store>', "the pivot model's capture store")
    .requiredOption('--source <store>', "the source model's capture store (same data file)")
    .requiredOption(
      '--pivot-model <dir|id>',
      'the pivot model (its tokenizer files): a directory, or a Hugging Face id ORG/NAME[@revision] (from the HF cache; only tokenizer files are downloaded)',
    )
    .requiredOption(
      '--source-model <dir|id>',
      'the source model (its tokenizer files): a directory or a Hugging Face id, as --pivot-model',
    )
    .addOption(
      new Option('--mapping <method>', 'how source ids that no exact rule places are mapped')
        .choices(Object.keys(builtinVocabularyMappers))
        .default('min-edit-distance'),
    )
    .option('--vocabulary-map <file>', 'use this vocabulary map JSON instead of building one')
    .requiredOption('--out <store>', 'the aligned store to write (an incomplete one is resumed)')
    .option(
      '--workers <n>',
      'worker threads of the DTW re-indexing and the min-edit-distance map (default: one per core)',
    )
    .option('--json', 'print the summary as one JSON object on stdout')
    .addOption(backendOption())
    .action(
      async (options: {
        pivot: string;
        source: string;
        pivotModel: string;
        sourceModel: string;
        mapping: string;
        vocabularyMap?: string;
        out: string;
        workers?: string;
        json?: boolean;
      }) => {
        const logger = createConsoleLogger({ prefix: 'fusechat: ' });
        const workers =
          options.workers === undefined
            ? undefined
            : parseNumberOption(options.workers, 'workers', POSITIVE_INTEGER);
        const tokenizerOnly = { logger, resolve: { need: 'tokenizer' as const } };
        const pivotModel = (await resolveModelOption(options.pivotModel, '--pivot-model', tokenizerOnly)).dir;
        const sourceModel = (await resolveModelOption(options.sourceModel, '--source-model', tokenizerOnly))
          .dir;
        const [pivotTokenizer, sourceTokenizer] = await Promise.all([
          loadTokenizer(pivotModel),
          loadTokenizer(sourceModel),
        ]);
        // Loaded on use (it loads tfjs): registering the command (and --help, --version) does not.
        const { alignStore, checkAlignStores, vocabularyMapHash } = await import(
          '@fusechat/distribution-capture'
        );
        const pivot = await openStore(options.pivot, {
          expect: { tokenizer: { hash: pivotTokenizer.hash } },
          requireComplete: true,
        });
        const source = await openStore(options.source, {
          expect: { tokenizer: { hash: sourceTokenizer.hash } },
          requireComplete: true,
        });
        const progress = createProgressPrinter();
        try {
          // Before the map, which can take a while to build (min-edit-distance: ~20 s for 151k ids).
          checkAlignStores(pivot.manifest, source.manifest, pivotTokenizer, sourceTokenizer);
          const map = await vocabularyMapFor(options, {
            workers,
            pivot,
            source,
            pivotTokenizer,
            sourceTokenizer,
            progress,
          });
          const summary = await alignStore({
            pivot,
            source,
            pivotTokenizer,
            sourceTokenizer,
            vocabularyMap: map,
            out: options.out,
            workers,
            onProgress: progress,
            logger,
          });
          progress.finish();
          const line = {
            out: options.out,
            examples: summary.manifest.examples,
            pivotTokens: summary.pivotTokens,
            flagged: summary.manifest.flagged.length,
            origins: summary.origins,
            mapping: map.method,
            vocabularyMapHash: vocabularyMapHash(map),
            seconds: summary.seconds,
            workers: summary.workers,
            pivotTokensPerSecond: summary.seconds > 0 ? summary.pivotTokens / summary.seconds : 0,
          };
          if (options.json)
            process.stdout.write(
              `${JSON.stringify({ ...line, alreadyComplete: summary.alreadyComplete })}\n`,
            );
          else if (summary.alreadyComplete) {
            process.stdout.write(
              `${options.out} is already complete (${summary.manifest.examples} examples): nothing to do.\n`,
            );
          } else {
            process.stdout.write(
              `aligned ${summary.examples} examples (${summary.pivotTokens} pivot tokens) in ${formatDuration(summary.seconds)} ` +
                `with ${summary.workers} worker(s): ${(summary.origins.mapped * 100).toFixed(1)}% of positions from the source, ` +
                `${(summary.origins.oneHot * 100).toFixed(1)}% one-hot, ${(summary.origins.pivot * 100).toFixed(1)}% pivot fallback; ` +
                `${summary.missing} without a source record → ${options.out}\n`,
            );
          }
        } finally {
          progress.finish();
          await Promise.all([pivot.close(), source.close()]);
        }
      },
    );
}

async function vocabularyMapFor(
  options: { vocabularyMap?: string; mapping: string; out: string },
  context: {
    /** Worker threads of the min-edit-distance map (default: one per core). */
    workers: number | undefined;
    pivot: DistributionStore;
    source: DistributionStore;
    pivotTokenizer: TokenizerLike;
    sourceTokenizer: TokenizerLike;
    progress: ReturnType<typeof createProgressPrinter>;
  },
): Promise<VocabularyMap> {
  const tokenizers = { source: context.sourceTokenizer, pivot: context.pivotTokenizer };
  if (options.vocabularyMap !== undefined) {
    const text = await readFile(options.vocabularyMap, 'utf8').catch((cause: unknown) => {
      throw new FileFormatError(
        'CLI_VOCAB_MAP_NOT_FOUND',
        `cannot read --vocabulary-map ${options.vocabularyMap}: ${String(cause)}`,
        {
          path: options.vocabularyMap,
          cause,
        },
      );
    });
    return parseVocabularyMap(text, tokenizers);
  }
  // A resumed run continues with the map the first run wrote into its store (a min-edit-distance map
  // is slow to rebuild). Another --mapping builds a new map, whose hash the store then refuses.
  const { VOCABULARY_MAP_FILE } = await import('@fusechat/distribution-capture');
  const previous = await readFile(join(options.out, VOCABULARY_MAP_FILE), 'utf8').catch(() => undefined);
  if (previous !== undefined) {
    const map = parseVocabularyMap(previous, tokenizers);
    if (map.method === options.mapping) return map;
  }
  return buildVocabularyMap(context.sourceTokenizer, context.pivotTokenizer, {
    method: options.mapping,
    corpus: options.mapping === 'statistics' ? coTokenized(context.pivot, context.source) : undefined,
    workers: context.workers,
    onProgress: context.progress,
  });
}

/** Both stores' token ids of every example they share (the `statistics` mapper's corpus). */
async function* coTokenized(
  pivot: DistributionStore,
  source: DistributionStore,
): AsyncGenerator<CoTokenizedText> {
  for await (const pivotRecord of pivot) {
    const sourceRecord = await source.getById(pivotRecord.id);
    if (sourceRecord === undefined) continue;
    yield { sourceIds: Array.from(sourceRecord.inputIds), pivotIds: Array.from(pivotRecord.inputIds) };
  }
}
