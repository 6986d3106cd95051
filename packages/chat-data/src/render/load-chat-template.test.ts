import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { lenmlTokenizerDir, testTokenizer } from '../test-fixtures.js';
import { loadChatTemplate } from './load-chat-template.js';

const dir = mkdtempSync(join(tmpdir(), 'chat-data-template-'));

test('a .jinja file is taken as it is', async () => {
  writeFileSync(join(dir, 'chatml.jinja'), '{% for m in messages %}{{ m.content }}{% endfor %}\n');
  expect(await loadChatTemplate(join(dir, 'chatml.jinja'))).toBe(
    '{% for m in messages %}{{ m.content }}{% endfor %}\n',
  );
});

test('a tokenizer_config.json gives its chat_template (string, or the default of a list)', async () => {
  const qwen3 = await testTokenizer('qwen3');
  expect(await loadChatTemplate(join(lenmlTokenizerDir('qwen3'), 'tokenizer_config.json'))).toBe(
    qwen3.chatTemplate,
  );
  writeFileSync(
    join(dir, 'list.json'),
    JSON.stringify({
      chat_template: [
        { name: 'tool_use', template: 'T' },
        { name: 'default', template: 'D' },
      ],
    }),
  );
  expect(await loadChatTemplate(join(dir, 'list.json'))).toBe('D');
});

test('errors: missing file, JSON without a template, bad JSON, empty file', async () => {
  await expect(loadChatTemplate(join(dir, 'nope.jinja'))).rejects.toMatchObject({
    code: 'CHAT_TEMPLATE_NOT_FOUND',
  });
  await expect(
    loadChatTemplate(join(lenmlTokenizerDir('llama2'), 'tokenizer_config.json')),
  ).rejects.toMatchObject({
    code: 'CHAT_TEMPLATE_NOT_FOUND',
    message: expect.stringContaining('has no "chat_template"'),
  });
  writeFileSync(join(dir, 'bad.json'), '{');
  await expect(loadChatTemplate(join(dir, 'bad.json'))).rejects.toMatchObject({
    code: 'CHAT_TEMPLATE_INVALID_JSON',
  });
  writeFileSync(join(dir, 'empty.jinja'), '  \n');
  await expect(loadChatTemplate(join(dir, 'empty.jinja'))).rejects.toMatchObject({
    code: 'CHAT_TEMPLATE_NOT_FOUND',
  });
});
