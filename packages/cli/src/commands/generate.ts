import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendRequest } from '@fusechat/backend';
import {
  createConsoleLogger,
  createProgressPrinter,
  InvalidInputError,
  type TokenizerLike,
} from '@fusechat/core';
import { loadModel, readModelConfig } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import type { Command } from 'commander';
import { backendOption, initCommandBackend, threadsOption } from '../options/backend-option.js';
import { parseNumberOption } from '../options/parse-number-option.js';

interface GenerateCommandOptions {
  model: string;
  prompt: string;
  maxNewTokens: string;
  temperature: string;
  topP: string;
  seed: string;
  backend: BackendRequest;
  threads?: string;
}

/**
 * `fusechat generate --model DIR --prompt TEXT`: continues the prompt with the model (greedy by
 * default, or temperature / top-p sampling), streaming the decoded continuation to stdout and
 * stopping at the end-of-sequence token.
 *
 * @example
 * ```ts
 * const program = new Command('fusechat');
 * registerGenerateCommand(program);
 * await program.parseAsync(['generate', '--model', 'models/tiny', '--prompt', 'Once upon'], { from: 'user' });
 * ```
 */
export function registerGenerateCommand(program: Command): void {
  program
    .command('generate')
    .description('Continue a prompt with a model; prints the generated text (without the prompt) on stdout.')
    .requiredOption(
      '--model <dir>',
      'Hugging Face model directory (config.json, *.safetensors, tokenizer.json)',
    )
    .requiredOption(
      '--prompt <text>',
      'text to continue (tokenised as is, with the BOS token; no chat template)',
    )
    .option('--max-new-tokens <n>', 'tokens to generate at most', '64')
    .option('--temperature <t>', '0 = greedy (argmax); otherwise sample from softmax(logits / t)', '0')
    .option('--top-p <p>', 'nucleus sampling: keep the most likely tokens whose probabilities reach p', '1')
    .option('--seed <s>', 'seed of the sampler (integer)', '0')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addHelpText(
      'after',
      '\nGeneration stops at the end-of-sequence token (eos_token_id of config.json or the tokenizer), which is not printed.',
    )
    .action(async (options: GenerateCommandOptions) => {
      const logger = createConsoleLogger({ prefix: 'fusechat: ' });
      let maxNewTokens = parseNumberOption(options.maxNewTokens, 'max-new-tokens', {
        integer: true,
        min: 0,
        rule: 'a non-negative integer',
      });
      const temperature = parseNumberOption(options.temperature, 'temperature', {
        min: 0,
        rule: 'a number ≥ 0',
      });
      const topP = parseNumberOption(options.topP, 'top-p', {
        min: 0,
        max: 1,
        minExclusive: true,
        rule: 'in (0, 1]',
      });
      const seed = parseNumberOption(options.seed, 'seed', { integer: true, rule: 'an integer' });

      const { config } = await readModelConfig(options.model);
      if (!existsSync(join(options.model, 'tokenizer.json'))) {
        throw new InvalidInputError(
          `${options.model} has no tokenizer.json; generate needs the model's tokenizer to encode the prompt and decode the output.`,
          { code: 'CLI_NO_TOKENIZER', field: 'model' },
        );
      }
      const tokenizer = await loadTokenizer(options.model);
      const promptIds = tokenizer.encode(options.prompt);
      if (promptIds.length === 0) {
        throw new InvalidInputError(
          '--prompt is empty and the tokenizer adds no BOS token: nothing to continue.',
          {
            code: 'CLI_EMPTY_PROMPT',
            field: 'prompt',
          },
        );
      }
      const outside = promptIds.find((id) => id >= config.vocabSize);
      if (outside !== undefined) {
        throw new InvalidInputError(
          `The tokenizer of ${options.model} produced token id ${outside}, outside the model's vocabulary (vocab_size ${config.vocabSize} in config.json); tokenizer.json and config.json disagree.`,
          { code: 'CLI_TOKEN_OUT_OF_RANGE', field: 'prompt', details: { id: outside } },
        );
      }
      // Policy: a prompt the model cannot position is refused; a continuation that would run
      // past max_position_embeddings is cut there (with a notice), as transformers does.
      if (promptIds.length >= config.maxPositionEmbeddings) {
        throw new InvalidInputError(
          `--prompt is ${promptIds.length} tokens, but the model positions at most ${config.maxPositionEmbeddings} (max_position_embeddings) and needs room for one new token; shorten the prompt.`,
          { code: 'CLI_PROMPT_TOO_LONG', field: 'prompt', details: { tokens: promptIds.length } },
        );
      }
      if (promptIds.length + maxNewTokens > config.maxPositionEmbeddings) {
        const room = config.maxPositionEmbeddings - promptIds.length;
        logger.warn(
          `prompt (${promptIds.length} tokens) + --max-new-tokens ${maxNewTokens} exceeds the model's max_position_embeddings (${config.maxPositionEmbeddings}); generating at most ${room} tokens.`,
        );
        maxNewTokens = room;
      }
      const configEos = config.eosTokenId === null ? [] : [config.eosTokenId].flat();
      const tokenizerEos = tokenizer.specialTokens.eos === undefined ? [] : [tokenizer.specialTokens.eos];
      const stopTokens = new Set([...configEos, ...tokenizerEos]);

      await initCommandBackend(options, { logger });
      const progress = createProgressPrinter();
      const model = await loadModel(options.model, { onProgress: progress });
      progress.finish();
      try {
        const printer = createContinuationPrinter(tokenizer, promptIds);
        const started = performance.now();
        const { tokens, finishReason } = await model.generate(promptIds, {
          maxNewTokens,
          temperature,
          topP,
          seed,
          stopTokens: [...stopTokens],
          onToken: (token) => printer.add(token),
        });
        const last = tokens[tokens.length - 1];
        const produced =
          finishReason === 'stop' && last !== undefined && stopTokens.has(last)
            ? tokens.slice(0, -1)
            : tokens;
        printer.finish(produced);
        const seconds = (performance.now() - started) / 1000;
        logger.info(
          `generated ${tokens.length} tokens in ${seconds.toFixed(1)} s (${(tokens.length / Math.max(seconds, 1e-9)).toFixed(1)} tokens/s), ${
            finishReason === 'stop'
              ? 'stopped at end of sequence'
              : `reached --max-new-tokens ${maxNewTokens}`
          }.`,
        );
      } finally {
        model.dispose();
      }
    });
}

/**
 * Writes the decoded continuation to stdout as tokens arrive. The continuation is the decoded
 * prompt + new tokens minus the decoded prompt: decoding new tokens alone would drop the leading
 * space of a SentencePiece word. Text ending in U+FFFD (half of a multi-byte character split
 * over byte tokens) is held back until the character is complete.
 */
function createContinuationPrinter(
  tokenizer: TokenizerLike,
  promptIds: readonly number[],
): { add(token: number): void; finish(tokens: readonly number[]): void } {
  const decodeOptions = { skipSpecialTokens: true };
  const promptText = tokenizer.decode(promptIds, decodeOptions);
  const tokens: number[] = [];
  let written = '';
  const continuation = (ids: readonly number[]): string => {
    const full = tokenizer.decode([...promptIds, ...ids], decodeOptions);
    return full.startsWith(promptText) ? full.slice(promptText.length) : tokenizer.decode(ids, decodeOptions);
  };
  const write = (text: string): void => {
    if (text.startsWith(written) && text.length > written.length) {
      process.stdout.write(text.slice(written.length));
      written = text;
    }
  };
  return {
    add(token) {
      tokens.push(token);
      const text = continuation(tokens);
      if (!text.endsWith('\uFFFD')) write(text);
    },
    finish(finalTokens) {
      write(continuation(finalTokens));
      process.stdout.write('\n');
    },
  };
}
