import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { loadChatTemplate } from '@fusechat/chat-data';
import { createConsoleLogger, InvalidInputError } from '@fusechat/core';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import type { Command } from 'commander';
import { readApiKeyEnv } from '../options/api-key-env.js';
import {
  addBackendOptions,
  type BackendCommandOptions,
  initCommandBackend,
} from '../options/backend-option.js';
import { MODEL_REFERENCE_HELP, resolveModelOption } from '../options/model-reference.js';
import { POSITIVE_INTEGER, parseNumberOption } from '../options/parse-number-option.js';

interface ServeCommandOptions extends BackendCommandOptions {
  model: string;
  host: string;
  port: string;
  apiKeyEnv?: string;
  servedModelName?: string;
  maxModelLen?: string;
  maxLogprobs: string;
  maxBatchTokens?: string;
  chatTemplate?: string;
}

/**
 * `fusechat serve --model DIR`: an OpenAI-compatible server (vLLM's flavour: `prompt_logprobs`,
 * `/tokenize`) over a local model, until SIGINT / SIGTERM. Prints one line with the URL on
 * stdout. The API key comes from the environment variable `--api-key-env` names and is never
 * printed.
 *
 * @example
 * ```ts
 * const program = new Command('fusechat');
 * registerServeCommand(program);
 * await program.parseAsync(['serve', '--model', 'models/tiny', '--port', '8000'], { from: 'user' });
 * ```
 */
export function registerServeCommand(program: Command): void {
  const command = program
    .command('serve')
    .description(
      'Serve a model over HTTP with the OpenAI API as vLLM speaks it (completions with prompt_logprobs, chat, tokenize); Ctrl-C stops.',
    )
    .requiredOption(
      '--model <dir|id>',
      `the model (config.json, *.safetensors, tokenizer.json): ${MODEL_REFERENCE_HELP}`,
    )
    .option('--host <host>', 'address to listen on (0.0.0.0 for every interface)', '127.0.0.1')
    .option('--port <port>', 'port (0 = any free port)', '8000')
    .option(
      '--api-key-env <name>',
      'require "Authorization: Bearer <key>" on /v1, the key read from this environment variable',
    )
    .option(
      '--served-model-name <name>',
      'model name in /v1/models and responses (default: the Hugging Face id, or the directory name)',
    )
    .option(
      '--max-model-len <n>',
      "prompt + generated tokens per sequence (default: the model's max_position_embeddings)",
    )
    .option(
      '--max-logprobs <n>',
      'log-probabilities per position at most, as vLLM (-1 = the vocabulary)',
      '20',
    )
    .option('--max-batch-tokens <n>', 'prompt tokens in one request at most (default 32768)')
    .option(
      '--chat-template <file>',
      "Jinja chat template (.jinja or a tokenizer_config.json) instead of the tokenizer's",
    );
  addBackendOptions(command)
    .addHelpText(
      'after',
      '\nEndpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions, POST /tokenize, POST /detokenize, GET /health.\nCapture from it: fusechat capture --endpoint URL --model-name NAME --tokenizer DIR --dialect vllm.',
    )
    .action(async (options: ServeCommandOptions) => {
      const logger = createConsoleLogger({ prefix: 'fusechat: ' });
      const port = parseNumberOption(options.port, 'port', {
        integer: true,
        min: 0,
        max: 65535,
        rule: 'a port in [0, 65535]',
      });
      const maxLogprobs = parseNumberOption(options.maxLogprobs, 'max-logprobs', {
        integer: true,
        min: -1,
        rule: 'a non-negative integer or -1',
      });
      const maxModelLen =
        options.maxModelLen === undefined
          ? undefined
          : parseNumberOption(options.maxModelLen, 'max-model-len', POSITIVE_INTEGER);
      const maxBatchTokens =
        options.maxBatchTokens === undefined
          ? undefined
          : parseNumberOption(options.maxBatchTokens, 'max-batch-tokens', POSITIVE_INTEGER);
      const apiKey = readApiKeyEnv(options.apiKeyEnv);
      const resolved = await resolveModelOption(options.model, '--model', {
        logger,
        resolve: { need: 'model-and-tokenizer' },
      });
      const modelDir = resolved.dir;
      // Loaded on use (they load tfjs and fastify): registering the command (and --help, --version) does not.
      const [{ loadModel, readModelConfig }, { serve }] = await Promise.all([
        import('@fusechat/model'),
        import('@fusechat/server'),
      ]);
      const { config } = await readModelConfig(modelDir);
      if (maxModelLen !== undefined && maxModelLen > config.maxPositionEmbeddings) {
        throw new InvalidInputError(
          `--max-model-len ${maxModelLen} exceeds the model's max_position_embeddings (${config.maxPositionEmbeddings}).`,
          { code: 'CLI_INVALID_NUMBER', field: 'max-model-len' },
        );
      }
      if (!existsSync(join(modelDir, 'tokenizer.json'))) {
        throw new InvalidInputError(
          `${options.model} has no tokenizer.json; serve needs the model's tokenizer for text prompts, chat and /tokenize.`,
          { code: 'CLI_NO_TOKENIZER', field: 'model' },
        );
      }
      const tokenizer = await loadTokenizer(modelDir);
      const chatTemplate =
        options.chatTemplate === undefined ? undefined : await loadChatTemplate(options.chatTemplate);
      await initCommandBackend(options, { logger });
      const model = await loadModel(modelDir);
      // A Hugging Face id is served under its own name, as vLLM does.
      const modelName = options.servedModelName ?? resolved.repo ?? basename(resolve(modelDir));
      let server: Awaited<ReturnType<typeof serve>>;
      try {
        server = await serve({
          model,
          tokenizer,
          modelName,
          chatTemplate,
          apiKey,
          host: options.host,
          port,
          limits: { maxModelLen, maxLogprobs, maxBatchTokens },
          logger,
        });
      } catch (error) {
        model.dispose();
        throw error;
      }
      process.stdout.write(
        `fusechat serve: ${server.url} (model "${modelName}", OpenAI API at ${server.url}/v1)\n`,
      );
      await new Promise<void>((resolveStop) => {
        const stop = (signal: NodeJS.Signals) => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          logger.info(`${signal}: closing the server.`);
          resolveStop();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await server.close();
      model.dispose();
      logger.info('server closed.');
    });
}
