import { FileFormatError } from '@fusechat/core';
import { readInputText } from '@fusechat/core/node';

/**
 * Reads a chat template for `--chat-template FILE`: a Jinja file taken as it is, or a
 * `tokenizer_config.json` (any `.json` file) whose `chat_template` is used (a string, or the
 * `default` entry of a list of named templates, else its first entry).
 *
 * @throws FileFormatError `CHAT_TEMPLATE_NOT_FOUND` (unreadable file, or a JSON file without a
 *   template), `CHAT_TEMPLATE_INVALID_JSON`.
 * @example
 * ```ts
 * const chatTemplate = await loadChatTemplate('templates/chatml.jinja');
 * renderChat(messages, { tokenizer, chatTemplate });
 * ```
 */
export async function loadChatTemplate(path: string): Promise<string> {
  let text = await readInputText(path, { what: 'chat template', notFoundCode: 'CHAT_TEMPLATE_NOT_FOUND' });
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (!path.toLowerCase().endsWith('.json')) {
    if (text.trim() === '') {
      throw new FileFormatError('CHAT_TEMPLATE_NOT_FOUND', `the chat template ${path} is empty.`, { path });
    }
    return text;
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (cause) {
    throw new FileFormatError(
      'CHAT_TEMPLATE_INVALID_JSON',
      `${path} is not valid JSON (${(cause as Error).message}); pass a .jinja file or a tokenizer_config.json.`,
      { path, cause },
    );
  }
  const template = chatTemplateOf((config as { chat_template?: unknown } | null)?.chat_template);
  if (template === undefined) {
    throw new FileFormatError(
      'CHAT_TEMPLATE_NOT_FOUND',
      `${path} has no "chat_template"; pass a .jinja file, or a tokenizer_config.json that has one.`,
      { path },
    );
  }
  return template;
}

function chatTemplateOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (Array.isArray(value)) {
    const entries = value as { name?: unknown; template?: unknown }[];
    const chosen = entries.find((entry) => entry?.name === 'default') ?? entries[0];
    return typeof chosen?.template === 'string' ? chosen.template : undefined;
  }
  return undefined;
}
