import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendRequest } from '@fusechat/backend';
import { IGNORE_LABEL, loadChatTemplate, readDataFile, tokenizeExample } from '@fusechat/chat-data';
import {
  createConsoleLogger,
  createProgressPrinter,
  InvalidInputError,
  type TokenizerLike,
} from '@fusechat/core';
import type { PerplexityBatch } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import type { Command } from 'commander';
import { backendOption, initCommandBackend, threadsOption } from '../options/backend-option.js';
import { MODEL_REFERENCE_HELP, resolveModelOption } from '../options/model-reference.js';
import { POSITIVE_INTEGER, parseNumberOption } from '../options/parse-number-option.js';

/** What `fusechat eval` prints on stdout (one JSON line). */
export interface EvalReport {
  /** Mean next-token cross-entropy in nats over supervised tokens. */
  readonly loss: number;
  readonly perplexity: number;
  /** Supervised (scored) tokens. */
  readonly tokens: number;
  /** Examples (non-blank lines) read from the data file. */
  readonly examples: number;
}

/** One example as token ids with aligned labels (`transformers` convention, −100 = not scored). */
interface TokenizedExample {
  readonly inputIds: number[];
  readonly labels: number[];
}

const DEFAULT_MAX_LENGTH = 2048;

/**
 * `fusechat eval --model DIR --data FILE`: mean next-token cross-entropy and perplexity of a
 * model on JSONL data, printed as one JSON line on stdout (progress on stderr).
 *
 * @example
 * ```ts
 * const program = new Command('fusechat');
 * registerEvalCommand(program);
 * await program.parseAsync(['eval', '--model', 'models/tiny', '--data', 'eval.jsonl'], { from: 'user' });
 * // {"loss":2.31,"perplexity":10.07,"tokens":5120,"examples":40}
 * ```
 */
export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description(
      'Evaluate a model on JSONL data: prints {"loss","perplexity","tokens","examples"} as JSON on stdout.',
    )
    .requiredOption('--model <dir|id>', `the model: ${MODEL_REFERENCE_HELP}`)
    .requiredOption('--data <file>', 'JSONL data, one example a line (see below)')
    .option('--batch-size <n>', 'examples per forward pass (memory ≈ batch × length × vocab × 4 bytes)', '1')
    .option(
      '--max-length <n>',
      `longer examples are truncated to this many tokens (default: max_position_embeddings, at most ${DEFAULT_MAX_LENGTH})`,
    )
    .option(
      '--chat-template <file>',
      "a .jinja file or tokenizer_config.json to use instead of the model's template",
    )
    .addOption(backendOption())
    .addOption(threadsOption())
    .addHelpText(
      'after',
      [
        '',
        'Data lines:',
        '  {"messages": [...]} or {"conversations": [...]}  chat, rendered with the model\'s chat template; assistant tokens',
        '                                                   and the end-of-turn token after each (<|im_end|>, </s>…) scored',
        '  {"text": "..."}                            tokenised with the model\'s tokenizer.json, every token scored',
        '  {"input_ids": [...], "labels": [...]}      pre-tokenised; labels optional (default: input_ids), -100 = not scored',
        'Labels follow transformers: position t predicts labels[t + 1]. The loss is the token-weighted mean',
        "next-token cross-entropy in nats; perplexity = exp(loss). Chat lines need a chat template: the model's",
        '(tokenizer_config.json) or --chat-template FILE; the rendering and masks are the ones fusechat capture uses.',
      ].join('\n'),
    )
    .action(
      async (options: {
        model: string;
        data: string;
        batchSize: string;
        maxLength?: string;
        chatTemplate?: string;
        backend: BackendRequest;
        threads?: string;
      }) => {
        const logger = createConsoleLogger({ prefix: 'fusechat: ' });
        const batchSize = parseNumberOption(options.batchSize, 'batch-size', POSITIVE_INTEGER);
        options.model = (
          await resolveModelOption(options.model, '--model', {
            logger,
            resolve: { need: 'model-and-tokenizer' },
          })
        ).dir;
        // Loaded on use (it loads tfjs): registering the command (and --help, --version) does not.
        const { evaluatePerplexity, loadModel, readModelConfig } = await import('@fusechat/model');
        const { config } = await readModelConfig(options.model);
        const maxLength =
          options.maxLength === undefined
            ? Math.min(config.maxPositionEmbeddings, DEFAULT_MAX_LENGTH)
            : parseNumberOption(options.maxLength, 'max-length', POSITIVE_INTEGER);
        if (maxLength > config.maxPositionEmbeddings) {
          logger.warn(
            `--max-length ${maxLength} exceeds the model's max_position_embeddings (${config.maxPositionEmbeddings}).`,
          );
        }
        const data = await readEvaluationData(options.data, {
          modelDir: options.model,
          vocabSize: config.vocabSize,
          maxLength,
          chatTemplate:
            options.chatTemplate === undefined ? undefined : await loadChatTemplate(options.chatTemplate),
        });
        if (data.truncated > 0) {
          logger.warn(
            `${data.truncated} of ${data.examples.length} examples truncated to ${maxLength} tokens.`,
          );
        }
        await initCommandBackend(options, { logger });
        const progress = createProgressPrinter();
        const model = await loadModel(options.model, { onProgress: progress });
        try {
          const sequences = [...data.examples].sort((a, b) => b.inputIds.length - a.inputIds.length);
          let evaluated = 0;
          const result = await evaluatePerplexity(model, paddedBatches(sequences, batchSize), {
            onProgress: () => {
              evaluated = Math.min(evaluated + batchSize, sequences.length);
              progress({ task: 'eval', completed: evaluated, total: sequences.length, unit: 'examples' });
            },
          });
          progress.finish();
          if (result.tokens === 0) {
            throw new InvalidInputError(
              `${options.data}: no example has a supervised token (every label is -100, or every example is one token long): there is no loss to report.`,
              { code: 'CLI_NOTHING_TO_EVALUATE', field: 'data' },
            );
          }
          const report: EvalReport = {
            loss: result.loss,
            perplexity: result.perplexity,
            tokens: result.tokens,
            examples: data.examples.length,
          };
          process.stdout.write(`${JSON.stringify(report)}\n`);
        } finally {
          progress.finish();
          model.dispose();
        }
      },
    );
}

/**
 * Reads and tokenises the whole data file before the model loads, so bad data fails fast
 * (`@fusechat/chat-data`: the same parsing, chat rendering and label masks as capture). The
 * tokenizer is loaded only when a line needs it (pre-tokenised data needs none).
 */
async function readEvaluationData(
  path: string,
  context: { modelDir: string; vocabSize: number; maxLength: number; chatTemplate: string | undefined },
): Promise<{ examples: TokenizedExample[]; truncated: number }> {
  const tokenizer = lazyTokenizer(context.modelDir);
  const examples: TokenizedExample[] = [];
  let truncated = 0;
  let supervised = 0;
  for await (const example of readDataFile(path)) {
    const where = example.where;
    let inputIds: number[];
    let labels: number[];
    if (example.kind === 'tokens') {
      inputIds = example.inputIds;
      labels = example.labels ?? inputIds;
      checkVocabulary(inputIds, 'input_ids has', where, context);
      if (example.labels) checkVocabulary(example.labels, 'labels has', where, context);
    } else {
      const loaded = await tokenizer.get();
      if (loaded === undefined) {
        throw new InvalidInputError(
          `${where}: a ${example.kind} example needs a tokenizer, but ${context.modelDir} has no tokenizer.json; copy the tokenizer files beside the model or pre-tokenise the data as {"input_ids": […]}.`,
          { code: 'CLI_NO_TOKENIZER', field: example.kind, details: { where } },
        );
      }
      // Chat: rendered with the model's template, only assistant tokens scored; text: every token.
      const tokenized = tokenizeExample(example, { tokenizer: loaded, chatTemplate: context.chatTemplate });
      inputIds = Array.from(tokenized.inputIds);
      labels = inputIds.map((id, t) => (tokenized.labelMask[t] === 1 ? id : IGNORE_LABEL));
      checkVocabulary(inputIds, 'the tokenizer produced', where, context);
    }
    if (inputIds.length > context.maxLength) {
      truncated++;
      inputIds = inputIds.slice(0, context.maxLength);
      labels = labels.slice(0, context.maxLength);
    }
    for (let t = 1; t < labels.length; t++) if (labels[t] !== IGNORE_LABEL) supervised++;
    examples.push({ inputIds, labels });
  }
  if (supervised === 0) {
    throw new InvalidInputError(
      examples.length === 0
        ? `${path} holds no examples.`
        : `${path}: none of its ${examples.length} examples has a supervised token after the first (all labels −100, or one-token examples); nothing to evaluate.`,
      { code: 'CLI_NOTHING_TO_EVALUATE', details: { path } },
    );
  }
  return { examples, truncated };
}

function checkVocabulary(
  ids: readonly number[],
  what: string,
  where: string,
  context: { modelDir: string; vocabSize: number },
): void {
  const index = ids.findIndex((id) => id >= context.vocabSize);
  if (index < 0) return;
  throw new InvalidInputError(
    `${where}: ${what} token id ${ids[index]} at position ${index}, outside the model's vocabulary (vocab_size ${context.vocabSize} in ${join(context.modelDir, 'config.json')}); was the data tokenised for another model?`,
    { code: 'CLI_TOKEN_OUT_OF_RANGE', details: { where, position: index, id: ids[index] } },
  );
}

/** Right-padded batches: pad positions get mask 0 and label −100. */
function* paddedBatches(
  examples: readonly TokenizedExample[],
  batchSize: number,
): Generator<PerplexityBatch> {
  for (let start = 0; start < examples.length; start += batchSize) {
    const group = examples.slice(start, start + batchSize);
    const time = Math.max(...group.map((example) => example.inputIds.length));
    const pad = (row: readonly number[], value: number) => [
      ...row,
      ...new Array<number>(time - row.length).fill(value),
    ];
    yield {
      inputIds: group.map((example) => pad(example.inputIds, 0)),
      labels: group.map((example) => pad(example.labels, IGNORE_LABEL)),
      attentionMask: group.map((example) => pad(new Array<number>(example.inputIds.length).fill(1), 0)),
    };
  }
}

function lazyTokenizer(modelDir: string): { get(): Promise<TokenizerLike | undefined> } {
  let loaded: Promise<TokenizerLike | undefined> | undefined;
  return {
    get() {
      loaded ??= existsSync(join(modelDir, 'tokenizer.json'))
        ? loadTokenizer(modelDir)
        : Promise.resolve(undefined);
      return loaded;
    },
  };
}
