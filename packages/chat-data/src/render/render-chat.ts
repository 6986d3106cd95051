import { InvalidInputError, type TokenizerLike } from '@fusechat/core';
import { Template } from '@huggingface/jinja';
import type { ChatMessage } from '../data/data-example.js';

export interface RenderChatOptions {
  /** Supplies the special tokens (and the chat template, unless `chatTemplate` is given). */
  readonly tokenizer: TokenizerLike;
  /** Jinja chat template; overrides `tokenizer.chatTemplate`. */
  readonly chatTemplate?: string | undefined;
  /** Ask the template to open an assistant turn at the end (generation). Default false. */
  readonly addGenerationPrompt?: boolean | undefined;
  /** Extra template variables, as `apply_chat_template(**kwargs)` passes them (`enable_thinking`…). */
  readonly variables?: Readonly<Record<string, unknown>> | undefined;
  /** `file:line` (or another label) that starts error messages. */
  readonly where?: string | undefined;
}

/** A rendered conversation and where each assistant message's content landed in it. */
export interface RenderedChat {
  readonly text: string;
  /** `[start, end)` character (UTF-16) ranges, one per assistant message, in order. */
  readonly assistantSpans: [number, number][];
}

/**
 * Renders a conversation with the model's own Jinja chat template (through `@huggingface/jinja`,
 * with the variables transformers passes: `messages`, `bos_token`, `eos_token`, `pad_token`,
 * `unk_token`, `add_generation_prompt`, `tools` = none; `raise_exception` fails the render with
 * `CHAT_TEMPLATE_ERROR`), and finds each assistant message's content span in the result.
 *
 * Spans come from the render itself, not from guessing the template: the conversation is
 * rendered again with that message's content replaced by a one-character sentinel, and the part
 * of the real render that differs is what the template made of the content (the content when it
 * is written verbatim or trimmed; e.g. for Qwen3, the reasoning block and answer of the last turn,
 * and only the answer of earlier turns, whose `<think>` blocks the template drops).
 *
 * @throws InvalidInputError `CHAT_NO_TEMPLATE` (no template: pass `--chat-template FILE`),
 *   `CHAT_TEMPLATE_ERROR` (the template does not parse, or fails / raises while rendering),
 *   `CHAT_SPAN_NOT_FOUND` (the template does not render an assistant message's content).
 * @example
 * ```ts
 * const { text, assistantSpans } = renderChat(
 *   [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }],
 *   { tokenizer: qwen3 },
 * );
 * // text: '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello!<|im_end|>\n'
 * // text.slice(...assistantSpans[0]) === 'Hello!'
 * ```
 */
export function renderChat(messages: readonly ChatMessage[], options: RenderChatOptions): RenderedChat {
  const where = options.where === undefined ? '' : `${options.where}: `;
  const source = options.chatTemplate ?? options.tokenizer.chatTemplate;
  if (source === undefined || source === '') {
    throw new InvalidInputError(
      `${where}the tokenizer has no chat template (no "chat_template" in tokenizer_config.json); pass one with --chat-template FILE (a .jinja file or a tokenizer_config.json), or use {"text": …} data.`,
      { code: 'CHAT_NO_TEMPLATE', field: 'chatTemplate', details: { where: options.where } },
    );
  }
  const template = compile(source, where);
  const globals = templateGlobals(options);
  const render = (turns: readonly ChatMessage[]): string => {
    try {
      return template.render({ ...globals, messages: turns.map((turn) => ({ ...turn })) });
    } catch (cause) {
      throw new InvalidInputError(
        `${where}the chat template failed: ${cause instanceof Error ? cause.message : String(cause)}.`,
        { code: 'CHAT_TEMPLATE_ERROR', cause, details: { where: options.where } },
      );
    }
  };
  const text = render(messages);
  const sentinel = pickSentinel(text, messages);
  const assistantSpans: [number, number][] = [];
  messages.forEach((message, index) => {
    if (message.role !== 'assistant') return;
    const probe = render(messages.map((turn, i) => (i === index ? { ...turn, content: sentinel } : turn)));
    const span = locateContent(text, probe, sentinel, message.content);
    const previous = assistantSpans[assistantSpans.length - 1];
    if (span === undefined || (previous !== undefined && span[0] < previous[1])) {
      throw new InvalidInputError(
        `${where}cannot find assistant message ${index} (${JSON.stringify(message.content.slice(0, 40))}…) in the rendered conversation: the chat template does not render it, or renders it out of order. Check the template (--chat-template FILE).`,
        { code: 'CHAT_SPAN_NOT_FOUND', details: { where: options.where, message: index } },
      );
    }
    assistantSpans.push(span);
  });
  return { text, assistantSpans };
}

/** The character range of `text` that depends on the message whose content `probe` replaced. */
function locateContent(
  text: string,
  probe: string,
  sentinel: string,
  content: string,
): [number, number] | undefined {
  const limit = Math.min(text.length, probe.length);
  let prefix = 0;
  while (prefix < limit && text.charCodeAt(prefix) === probe.charCodeAt(prefix)) prefix++;
  let suffix = 0;
  while (
    suffix < limit - prefix &&
    text.charCodeAt(text.length - 1 - suffix) === probe.charCodeAt(probe.length - 1 - suffix)
  ) {
    suffix++;
  }
  const sentinelAt = probe.indexOf(sentinel, prefix);
  if (sentinelAt === -1 || sentinelAt >= probe.length - suffix) {
    // The template did not write the sentinel: it drops this message (or its content).
    return undefined;
  }
  const start = prefix;
  const end = text.length - suffix;
  if (content === '') return [start, start];
  // The content as written (or trimmed) where it covers the region: the region alone can be
  // shorter when the content starts or ends like the template's text around it.
  for (const candidate of [content, content.trim()]) {
    if (candidate === '') continue;
    for (let at = text.indexOf(candidate, Math.max(0, end - candidate.length)); at !== -1 && at <= start; ) {
      if (at + candidate.length >= end) return [at, at + candidate.length];
      at = text.indexOf(candidate, at + 1);
    }
    const inside = text.slice(start, end).indexOf(candidate);
    if (inside !== -1) return [start + inside, start + inside + candidate.length];
  }
  return end > start ? [start, end] : undefined;
}

function pickSentinel(text: string, messages: readonly ChatMessage[]): string {
  for (let code = 0xe000; code <= 0xf8ff; code++) {
    const candidate = String.fromCharCode(code);
    if (!text.includes(candidate) && !messages.some((message) => message.content.includes(candidate))) {
      return candidate;
    }
  }
  throw new InvalidInputError('the conversation uses every private-use character; cannot locate spans.', {
    code: 'CHAT_SPAN_NOT_FOUND',
  });
}

function templateGlobals(options: RenderChatOptions): Record<string, unknown> {
  const { tokenizer } = options;
  const token = (id: number | undefined): string | undefined =>
    id === undefined ? undefined : tokenizer.idToToken(id);
  const globals: Record<string, unknown> = {
    bos_token: token(tokenizer.specialTokens.bos),
    eos_token: token(tokenizer.specialTokens.eos),
    pad_token: token(tokenizer.specialTokens.pad),
    unk_token: token(tokenizer.specialTokens.unk),
    add_generation_prompt: options.addGenerationPrompt ?? false,
    tools: null,
    documents: null,
    ...options.variables,
  };
  for (const key of Object.keys(globals)) if (globals[key] === undefined) delete globals[key];
  return globals;
}

const compiled = new Map<string, Template>();

function compile(source: string, where: string): Template {
  const cached = compiled.get(source);
  if (cached !== undefined) return cached;
  let template: Template;
  try {
    template = new Template(source);
  } catch (cause) {
    throw new InvalidInputError(
      `${where}the chat template does not parse: ${cause instanceof Error ? cause.message : String(cause)}.`,
      { code: 'CHAT_TEMPLATE_ERROR', cause },
    );
  }
  if (compiled.size >= 16) compiled.delete(compiled.keys().next().value as string);
  compiled.set(source, template);
  return template;
}
