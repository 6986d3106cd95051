import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendRequest } from '@fusechat/backend';
import { type ChatMessage, loadChatTemplate, renderChat, templateEndOfTurn } from '@fusechat/chat-data';
import {
  createConsoleLogger,
  createProgressPrinter,
  InvalidInputError,
  isFuseChatError,
  type TokenizerLike,
} from '@fusechat/core';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import type { Command } from 'commander';
import { backendOption, initCommandBackend, threadsOption } from '../options/backend-option.js';
import { MODEL_REFERENCE_HELP, resolveModelOption } from '../options/model-reference.js';
import { NON_NEGATIVE_INTEGER, parseNumberOption } from '../options/parse-number-option.js';

interface GenerateCommandOptions {
  model: string;
  prompt: string;
  chat?: boolean;
  system?: string;
  chatTemplate?: string;
  printPrompt?: boolean;
  maxNewTokens: string;
  minNewTokens: string;
  temperature: string;
  topP: string;
  topK: string;
  repetitionPenalty: string;
  /** `--no-repeat-ngram-size` (commander names a `--no-` option by what follows the `no-`). */
  repeatNgramSize: string;
  seed: string;
  backend: BackendRequest;
  threads?: string;
}

/**
 * `fusechat generate --model DIR --prompt TEXT`: continues the prompt with the model (greedy by
 * default, or temperature / top-k / top-p sampling), streaming the decoded continuation to
 * stdout and stopping at the end-of-sequence token. With `--chat` (or `--system TEXT`) the
 * prompt is the user turn of a conversation rendered with the model's chat template (the
 * renderer capture and eval use), and generation also stops at the template's end-of-turn token.
 *
 * @example
 * ```ts
 * const program = new Command('fusechat');
 * registerGenerateCommand(program);
 * await program.parseAsync(['generate', '--model', 'models/tiny', '--prompt', 'Once upon'], { from: 'user' });
 * await program.parseAsync(['generate', '--model', 'models/tiny', '--chat', '--prompt', 'Hi!'], { from: 'user' });
 * ```
 */
export function registerGenerateCommand(program: Command): void {
  program
    .command('generate')
    .description('Continue a prompt with a model; prints the generated text (without the prompt) on stdout.')
    .requiredOption('--model <dir|id>', `the model: ${MODEL_REFERENCE_HELP}`)
    .requiredOption(
      '--prompt <text>',
      'text to continue (tokenised as is, with the BOS token); with --chat, the user message',
    )
    .option('--chat', "render the prompt as a user turn with the model's chat template and print the reply")
    .option('--system <text>', 'a system message before the user turn (implies --chat)')
    .option(
      '--chat-template <file>',
      "a .jinja file or tokenizer_config.json to use instead of the model's template (implies --chat)",
    )
    .option('--print-prompt', 'print the prompt as the model sees it (rendered, as JSON) on stderr first')
    .option('--max-new-tokens <n>', 'tokens to generate at most', '64')
    .option(
      '--min-new-tokens <n>',
      "the stop tokens cannot be chosen before this many new tokens (transformers' min_new_tokens)",
      '0',
    )
    .option('--temperature <t>', '0 = greedy (argmax); otherwise sample from softmax(logits / t)', '0')
    .option('--top-k <k>', 'sample only from the k most likely tokens (0 = no limit)', '0')
    .option('--top-p <p>', 'nucleus sampling: keep the most likely tokens whose probabilities reach p', '1')
    .option(
      '--repetition-penalty <r>',
      "transformers' repetition_penalty: logits of ids already in the prompt or output are divided by r (multiplied when negative); 1 = off",
      '1',
    )
    .option(
      '--no-repeat-ngram-size <n>',
      "transformers' no_repeat_ngram_size: never complete an n-gram that already occurs; 0 = off",
      '0',
    )
    .option('--seed <s>', 'seed of the sampler (integer)', '0')
    .addOption(backendOption())
    .addOption(threadsOption())
    .addHelpText(
      'after',
      [
        '',
        'Generation stops at a stop token, which is not printed: eos_token_id of config.json and',
        "generation_config.json, the tokenizer's eos token and, with --chat, the token that ends an",
        'assistant turn in the chat template (e.g. <|im_end|>, <|eot_id|>, </s>). A model whose first',
        'choice is a stop token prints nothing (a note on stderr says so): --min-new-tokens N keeps the',
        'stop tokens out of the first N tokens, as transformers does. Sampling applies top-k, then top-p',
        '(transformers order); --top-k 1 is greedy. --repetition-penalty and --no-repeat-ngram-size',
        'apply first, over the prompt and the output, in greedy decoding too (small models loop',
        'without them: try --repetition-penalty 1.3 --no-repeat-ngram-size 3).',
      ].join('\n'),
    )
    .action(async (options: GenerateCommandOptions) => {
      const logger = createConsoleLogger({ prefix: 'fusechat: ' });
      options.model = (
        await resolveModelOption(options.model, '--model', {
          logger,
          resolve: { need: 'model-and-tokenizer' },
        })
      ).dir;
      let maxNewTokens = parseNumberOption(options.maxNewTokens, 'max-new-tokens', NON_NEGATIVE_INTEGER);
      const minNewTokens = parseNumberOption(options.minNewTokens, 'min-new-tokens', NON_NEGATIVE_INTEGER);
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
      const topK = parseNumberOption(options.topK, 'top-k', NON_NEGATIVE_INTEGER);
      const repetitionPenalty = parseNumberOption(options.repetitionPenalty, 'repetition-penalty', {
        min: 0,
        minExclusive: true,
        rule: 'a number > 0',
      });
      const noRepeatNgramSize = parseNumberOption(
        options.repeatNgramSize,
        'no-repeat-ngram-size',
        NON_NEGATIVE_INTEGER,
      );
      const seed = parseNumberOption(options.seed, 'seed', { integer: true, rule: 'an integer' });
      const chat =
        options.chat === true || options.system !== undefined || options.chatTemplate !== undefined;

      // Loaded on use (it loads tfjs): registering the command (and --help, --version) does not.
      const { loadModel, readGenerationConfigEos, readModelConfig } = await import('@fusechat/model');
      const { config } = await readModelConfig(options.model);
      if (!existsSync(join(options.model, 'tokenizer.json'))) {
        throw new InvalidInputError(
          `${options.model} has no tokenizer.json; generate needs the model's tokenizer to encode the prompt and decode the output.`,
          { code: 'CLI_NO_TOKENIZER', field: 'model' },
        );
      }
      const tokenizer = await loadTokenizer(options.model);
      const stopTokens = new Set<number>([
        ...[config.eosTokenId ?? []].flat(),
        ...(await readGenerationConfigEos(options.model)),
        ...(tokenizer.specialTokens.eos === undefined ? [] : [tokenizer.specialTokens.eos]),
      ]);
      const endOfSequence = new Set(stopTokens);
      let endOfTurn: number | undefined;
      let promptIds: number[];
      if (chat) {
        const chatTemplate =
          options.chatTemplate === undefined ? undefined : await loadChatTemplate(options.chatTemplate);
        const messages: ChatMessage[] = [
          ...(options.system === undefined ? [] : [{ role: 'system' as const, content: options.system }]),
          { role: 'user', content: options.prompt },
        ];
        const prompt = renderChatPrompt(messages, { tokenizer, chatTemplate, modelDir: options.model });
        promptIds = prompt.ids;
        try {
          endOfTurn = templateEndOfTurn(messages, { tokenizer, chatTemplate });
        } catch (error) {
          if (!isFuseChatError(error)) throw error;
          logger.warn(
            `cannot find the chat template's end-of-turn token (${error.message}); generation stops at the eos token only.`,
          );
        }
        if (options.printPrompt)
          logger.info(`prompt (${promptIds.length} tokens): ${JSON.stringify(prompt.text)}`);
      } else {
        promptIds = tokenizer.encode(options.prompt);
        if (options.printPrompt) {
          logger.info(`prompt (${promptIds.length} tokens): ${JSON.stringify(tokenizer.decode(promptIds))}`);
        }
      }
      if (endOfTurn !== undefined) stopTokens.add(endOfTurn);
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
          `--prompt is ${promptIds.length} tokens${chat ? ' (rendered with the chat template)' : ''}, but the model positions at most ${config.maxPositionEmbeddings} (max_position_embeddings) and needs room for one new token; shorten the prompt.`,
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

      await initCommandBackend(options, { logger });
      const progress = createProgressPrinter();
      const model = await loadModel(options.model, { onProgress: progress });
      progress.finish();
      try {
        const printer = createContinuationPrinter(tokenizer, promptIds);
        const started = performance.now();
        const { tokens, finishReason } = await model.generate(promptIds, {
          maxNewTokens,
          minNewTokens,
          temperature,
          topP,
          ...(topK > 0 ? { topK } : {}),
          repetitionPenalty,
          noRepeatNgramSize,
          seed,
          stopTokens: [...stopTokens],
          onToken: (token) => printer.add(token),
        });
        const last = tokens[tokens.length - 1];
        const stoppedAt = finishReason === 'stop' && last !== undefined ? last : undefined;
        const produced = stoppedAt === undefined ? tokens : tokens.slice(0, -1);
        const printed = printer.finish(produced);
        const seconds = (performance.now() - started) / 1000;
        logger.info(
          `generated ${tokens.length} tokens in ${seconds.toFixed(1)} s (${(tokens.length / Math.max(seconds, 1e-9)).toFixed(1)} tokens/s), ${
            stoppedAt === undefined
              ? `reached --max-new-tokens ${maxNewTokens}`
              : `stopped at ${tokenizer.idToToken(stoppedAt) ?? `token ${stoppedAt}`} (${endOfSequence.has(stoppedAt) ? 'end of sequence' : 'end of turn'})`
          }.`,
        );
        if (printed.trim() === '' && stoppedAt !== undefined) {
          logger.warn(
            produced.length === 0
              ? `the model chose the stop token ${tokenizer.idToToken(stoppedAt) ?? stoppedAt} (id ${stoppedAt}) first, so there is nothing to print; --min-new-tokens N keeps stop tokens out of the first N tokens, or sample with --temperature T.`
              : `the model wrote only whitespace (${produced.length} tokens) before the stop token ${tokenizer.idToToken(stoppedAt) ?? stoppedAt}; sample with --temperature T (and --top-k/--top-p) for other continuations.`,
          );
        }
      } finally {
        model.dispose();
      }
    });
}

/** The chat prompt as the model sees it: rendered with `add_generation_prompt`, encoded as is. */
function renderChatPrompt(
  messages: readonly ChatMessage[],
  context: { tokenizer: TokenizerLike; chatTemplate: string | undefined; modelDir: string },
): { text: string; ids: number[] } {
  const { tokenizer, chatTemplate } = context;
  if (chatTemplate === undefined && (tokenizer.chatTemplate === undefined || tokenizer.chatTemplate === '')) {
    throw new InvalidInputError(
      `--chat: ${context.modelDir} has no chat template (no "chat_template" in tokenizer_config.json); pass one with --chat-template FILE (a .jinja file or a tokenizer_config.json), or drop --chat/--system to continue the prompt as plain text.`,
      { code: 'CHAT_NO_TEMPLATE', field: 'chatTemplate' },
    );
  }
  const { text } = renderChat(messages, {
    tokenizer,
    chatTemplate,
    addGenerationPrompt: true,
    where: '--chat',
  });
  // The template writes the special tokens (BOS included): as transformers' apply_chat_template.
  return { text, ids: tokenizer.encode(text, { addSpecialTokens: false }) };
}

/**
 * Writes the decoded continuation to stdout as tokens arrive. The continuation is the decoded
 * prompt + new tokens minus the decoded prompt: decoding new tokens alone would drop the leading
 * space of a SentencePiece word. Text ending in U+FFFD (half of a multi-byte character split
 * over byte tokens) is held back until the character is complete. `finish` returns all it wrote.
 */
function createContinuationPrinter(
  tokenizer: TokenizerLike,
  promptIds: readonly number[],
): { add(token: number): void; finish(tokens: readonly number[]): string } {
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
      return written;
    },
  };
}
