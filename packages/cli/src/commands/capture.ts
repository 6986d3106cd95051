import type { BackendRequest } from '@fusechat/backend';
import {
  createConsoleLogger,
  createProgressPrinter,
  formatBytes,
  formatDuration,
  InvalidInputError,
} from '@fusechat/core';
import type { CaptureDataFileSummary, CaptureRemoteModelSummary } from '@fusechat/distribution-capture';
import { type Command, Option } from 'commander';
import { readApiKeyEnv } from '../options/api-key-env.js';
import { backendOption, initCommandBackend, threadsOption } from '../options/backend-option.js';
import { MODEL_REFERENCE_HELP, resolveOptionalModelOption } from '../options/model-reference.js';
import { POSITIVE_INTEGER, parseNumberOption } from '../options/parse-number-option.js';

/**
 * `fusechat capture --model DIR --data FILE --top-k 10 --out STORE`: runs the model over the data
 * with teacher forcing and stores its top-k next-token distributions, response CE and next-token
 * log-probabilities. `--endpoint URL --model-name NAME --tokenizer DIR [--dialect vllm|sglang]`
 * asks an inference server instead (rendering and tokenisation stay local; prompts go out as token
 * ids), with `--api-key-env NAME` naming the variable that holds its API key. Rerunning the same
 * command resumes an interrupted capture; on a complete store it says so and exits 0.
 *
 * @example
 * ```ts
 * registerCaptureCommand(program);
 * await program.parseAsync(['capture', '--model', 'models/pivot', '--data', 'train.jsonl', '--out', 'cap/pivot'], { from: 'user' });
 * await program.parseAsync(['capture', '--endpoint', 'http://gpu-1:8000', '--model-name', 'Qwen/Qwen2.5-7B-Instruct',
 *   '--tokenizer', 'tokenizers/qwen2.5', '--data', 'train.jsonl', '--out', 'cap/qwen'], { from: 'user' });
 * ```
 */
export function registerCaptureCommand(program: Command): void {
  program
    .command('capture')
    .description(
      "Capture a model's top-k next-token distributions over chat data into a distribution store (resumable).",
    )
    .option('--model <dir|id>', `the model: ${MODEL_REFERENCE_HELP}`)
    .option(
      '--endpoint <url>',
      'an inference server to capture from instead of --model (e.g. http://gpu-1:8000)',
    )
    .option('--model-name <name>', 'with --endpoint: the served model name (vLLM --served-model-name)')
    .option(
      '--tokenizer <dir|id>',
      "with --endpoint: the served model's tokenizer files (tokenizer.json, tokenizer_config.json): a directory, or a Hugging Face id ORG/NAME[@revision] (only its tokenizer files are downloaded)",
    )
    .addOption(
      new Option('--dialect <engine>', 'with --endpoint: the server protocol')
        .choices(['vllm', 'sglang'])
        .default('vllm'),
    )
    .option(
      '--api-key-env <name>',
      'with --endpoint: environment variable holding the API key (sent as Bearer)',
    )
    .option('--concurrency <n>', 'with --endpoint: requests in flight at most', '8')
    .requiredOption(
      '--data <file>',
      'JSONL: {"messages"}, ShareGPT {"conversations"}, {"text"} or {"input_ids","labels"}',
    )
    .requiredOption('--out <store>', 'store directory (an incomplete store of the same inputs is resumed)')
    .option('--top-k <k>', 'entries kept per position', '10')
    .option(
      '--max-length <n>',
      "longest sequence in tokens (default: the model's max_position_embeddings; with --endpoint the server's limit)",
    )
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
      async (
        options: {
          model?: string;
          endpoint?: string;
          modelName?: string;
          tokenizer?: string;
          dialect: 'vllm' | 'sglang';
          apiKeyEnv?: string;
          concurrency: string;
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
        },
        command: Command,
      ) => {
        checkCaptureSource(options, command);
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
        const remote = options.endpoint !== undefined;
        const concurrency = parseNumberOption(options.concurrency, 'concurrency', POSITIVE_INTEGER);
        const apiKey = remote ? readApiKeyEnv(options.apiKeyEnv) : undefined;
        const modelDir = await resolveOptionalModelOption(options.model, '--model', {
          logger,
          resolve: { need: 'model-and-tokenizer' },
        });
        const tokenizerDir = await resolveOptionalModelOption(options.tokenizer, '--tokenizer', {
          logger,
          resolve: { need: 'tokenizer' },
        });
        // A server computes; this process only renders, tokenises and writes.
        if (!remote) await initCommandBackend(options, { logger });
        // Loaded on use (it loads tfjs): registering the command (and --help, --version) does not.
        const { captureLocalModel, captureRemoteModel } = await import('@fusechat/distribution-capture');
        const progress = createProgressPrinter();
        // Starts the clock of the rate and ETA now, not at the first committed window.
        progress({ task: 'capture', completed: 0, unit: 'examples' });
        try {
          const shared = {
            data: options.data,
            out: options.out,
            k,
            maxLength,
            truncation: options.truncation,
            chatTemplateFile: options.chatTemplate,
            templateVariables,
            skipInvalid: options.skipInvalid,
            limit,
            logger,
          };
          const detail = (event: { tokens: number; flagged: number }) =>
            `${event.tokens} tokens${event.flagged > 0 ? `, ${event.flagged} flagged` : ''}`;
          const summary: CaptureDataFileSummary & Partial<CaptureRemoteModelSummary> = remote
            ? await captureRemoteModel({
                ...shared,
                endpoint: options.endpoint!,
                modelName: options.modelName!,
                tokenizerDir: tokenizerDir!,
                dialect: options.dialect,
                apiKey,
                concurrency,
                onProgress: (event) =>
                  progress({
                    ...event,
                    detail: `${detail(event)}, ${event.requestsPerSecond.toFixed(1)} req/s`,
                  }),
              })
            : await captureLocalModel({
                ...shared,
                modelDir: modelDir!,
                batchTokens,
                onProgress: (event) => progress({ ...event, detail: detail(event) }),
              });
          progress.finish();
          const manifest = summary.manifest;
          const wire =
            summary.bytesReceived === undefined
              ? {}
              : {
                  requests: summary.requests,
                  retries: summary.retries,
                  bytesSent: summary.bytesSent,
                  bytesReceived: summary.bytesReceived,
                  wireBytesPerToken:
                    summary.tokens > 0 ? (summary.bytesSent! + summary.bytesReceived) / summary.tokens : 0,
                };
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
            ...wire,
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
              ` → ${options.out} (${formatBytes(summary.bytes)}, ${result.bytesPerToken.toFixed(1)} B/token)` +
              `${
                wire.requests === undefined
                  ? ''
                  : `; ${wire.requests} requests${wire.retries! > 0 ? ` (${wire.retries} retried)` : ''}, ${formatBytes(wire.bytesSent! + wire.bytesReceived!)} on the wire (${wire.wireBytesPerToken.toFixed(0)} B/token)`
              }\n`,
          );
        } finally {
          progress.finish();
        }
      },
    );
}

/** Exactly one of --model and --endpoint, and what --endpoint needs: a usage error (exit 2) otherwise. */
function checkCaptureSource(
  options: { model?: string; endpoint?: string; modelName?: string; tokenizer?: string; apiKeyEnv?: string },
  command: Command,
): void {
  const usage = (message: string) =>
    command.error(`error: ${message}`, { exitCode: 2, code: 'fusechat.captureSource' });
  if (options.model !== undefined && options.endpoint !== undefined) {
    usage('--model and --endpoint cannot be used together: capture from a model directory or from a server');
  }
  if (options.model === undefined && options.endpoint === undefined) {
    usage(
      'give --model DIR (a local model) or --endpoint URL --model-name NAME --tokenizer DIR (an inference server)',
    );
  }
  if (options.endpoint !== undefined) {
    if (options.modelName === undefined) usage('--endpoint needs --model-name NAME (the served model name)');
    if (options.tokenizer === undefined)
      usage("--endpoint needs --tokenizer DIR (the served model's tokenizer files)");
  } else {
    for (const flag of ['modelName', 'tokenizer', 'apiKeyEnv'] as const) {
      if (options[flag] !== undefined) {
        usage(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with --endpoint, not --model`);
      }
    }
  }
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
