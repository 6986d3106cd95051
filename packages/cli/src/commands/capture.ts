import type { BackendRequest } from '@fusechat/backend';
import {
  createConsoleLogger,
  createProgressPrinter,
  formatBytes,
  formatDuration,
  InvalidInputError,
} from '@fusechat/core';
import { captureLocalModel } from '@fusechat/distribution-capture';
import { type Command, Option } from 'commander';
import { backendOption, initCommandBackend, threadsOption } from '../options/backend-option.js';
import { POSITIVE_INTEGER, parseNumberOption } from '../options/parse-number-option.js';

/**
 * `fusechat capture --model DIR --data FILE --top-k 10 --out STORE`: runs the model over the data
 * with teacher forcing and stores its top-k next-token distributions, response CE and next-token
 * log-probabilities. Rerunning the same command resumes an interrupted capture; on a complete
 * store it says so and exits 0.
 *
 * @example
 * ```ts
 * registerCaptureCommand(program);
 * await program.parseAsync(['capture', '--model', 'models/pivot', '--data', 'train.jsonl', '--out', 'cap/pivot'], { from: 'user' });
 * ```
 */
export function registerCaptureCommand(program: Command): void {
  program
    .command('capture')
    .description(
      "Capture a model's top-k next-token distributions over chat data into a distribution store (resumable).",
    )
    .requiredOption(
      '--model <dir>',
      'Hugging Face model directory (config.json, *.safetensors, tokenizer files)',
    )
    .requiredOption(
      '--data <file>',
      'JSONL: {"messages"}, ShareGPT {"conversations"}, {"text"} or {"input_ids","labels"}',
    )
    .requiredOption('--out <store>', 'store directory (an incomplete store of the same inputs is resumed)')
    .option('--top-k <k>', 'entries kept per position', '10')
    .option('--max-length <n>', "longest sequence in tokens (default: the model's max_position_embeddings)")
    .addOption(
      new Option('--truncation <policy>', 'what to do with longer examples')
        .choices(['keep-first', 'keep-last', 'refuse'])
        .default('keep-first'),
    )
    .option(
      '--chat-template <file>',
      "a .jinja file or tokenizer_config.json to use instead of the model's template",
    )
    .option(
      '--template-variable <name=value>',
      'a chat-template variable, e.g. date_string="26 Jul 2024" (repeatable; recorded in the store)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      '--batch-tokens <n>',
      'padded tokens per forward pass (memory ≈ tokens × hidden × layers)',
      '4096',
    )
    .option('--limit <n>', 'capture only the first N examples')
    .option('--skip-invalid', 'skip (and count) malformed data lines instead of stopping at the first')
    .option('--json', 'print the summary as one JSON object on stdout')
    .addOption(backendOption())
    .addOption(threadsOption())
    .action(
      async (options: {
        model: string;
        data: string;
        out: string;
        topK: string;
        maxLength?: string;
        truncation: 'keep-first' | 'keep-last' | 'refuse';
        chatTemplate?: string;
        templateVariable?: string[];
        batchTokens: string;
        limit?: string;
        skipInvalid?: boolean;
        json?: boolean;
        backend: BackendRequest;
        threads?: string;
      }) => {
        const k = parseNumberOption(options.topK, 'top-k', POSITIVE_INTEGER);
        const maxLength =
          options.maxLength === undefined
            ? undefined
            : parseNumberOption(options.maxLength, 'max-length', POSITIVE_INTEGER);
        const batchTokens = parseNumberOption(options.batchTokens, 'batch-tokens', POSITIVE_INTEGER);
        const limit =
          options.limit === undefined
            ? undefined
            : parseNumberOption(options.limit, 'limit', POSITIVE_INTEGER);
        const templateVariables = parseTemplateVariables(options.templateVariable ?? []);
        const logger = createConsoleLogger({ prefix: 'fusechat: ' });
        await initCommandBackend(options, { logger });
        const progress = createProgressPrinter();
        // Starts the clock of the rate and ETA now, not at the first committed window.
        progress({ task: 'capture', completed: 0, unit: 'examples' });
        try {
          const summary = await captureLocalModel({
            modelDir: options.model,
            data: options.data,
            out: options.out,
            k,
            maxLength,
            truncation: options.truncation,
            chatTemplateFile: options.chatTemplate,
            templateVariables,
            skipInvalid: options.skipInvalid,
            limit,
            batchTokens,
            onProgress: (event) =>
              progress({
                ...event,
                detail: `${event.tokens} tokens${event.flagged > 0 ? `, ${event.flagged} flagged` : ''}`,
              }),
            logger,
          });
          progress.finish();
          const manifest = summary.manifest;
          const result = {
            out: options.out,
            alreadyComplete: summary.alreadyComplete,
            examples: manifest.examples,
            tokens: manifest.tokens,
            flagged: manifest.flagged.length,
            invalid: summary.invalid,
            truncated: summary.truncated,
            resumedFrom: summary.resumedFrom,
            bytes: summary.bytes,
            bytesPerToken: manifest.tokens > 0 ? summary.bytes / manifest.tokens : 0,
            seconds: summary.seconds,
            tokensPerSecond: summary.seconds > 0 ? summary.tokens / summary.seconds : 0,
          };
          if (options.json) {
            process.stdout.write(`${JSON.stringify(result)}\n`);
            return;
          }
          if (summary.alreadyComplete) {
            process.stdout.write(
              `${options.out} is already complete (${manifest.examples} examples, ${manifest.tokens} tokens): nothing to do.\n`,
            );
            return;
          }
          process.stdout.write(
            `captured ${summary.examples} examples (${summary.tokens} tokens) in ${formatDuration(summary.seconds)}` +
              `${summary.resumedFrom > 0 ? `, resumed after ${summary.resumedFrom}` : ''}` +
              `${manifest.flagged.length > 0 ? `, ${manifest.flagged.length} flagged (non-finite logits)` : ''}` +
              `${summary.invalid > 0 ? `, ${summary.invalid} invalid lines skipped` : ''}` +
              `${summary.truncated > 0 ? `, ${summary.truncated} truncated` : ''}` +
              ` → ${options.out} (${formatBytes(summary.bytes)}, ${result.bytesPerToken.toFixed(1)} B/token)\n`,
          );
        } finally {
          progress.finish();
        }
      },
    );
}

/** `name=value` pairs; values that read as JSON numbers or booleans become those. */
function parseTemplateVariables(pairs: readonly string[]): Record<string, string | number | boolean> {
  const variables: Record<string, string | number | boolean> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    const name = at > 0 ? pair.slice(0, at).trim() : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new InvalidInputError(
        `--template-variable: "${pair}" is not name=value (name: letters, digits, _).`,
        {
          code: 'CLI_INVALID_TEMPLATE_VARIABLE',
          field: 'template-variable',
        },
      );
    }
    const text = pair.slice(at + 1);
    variables[name] =
      text === 'true' ? true : text === 'false' ? false : /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
  }
  return variables;
}
