import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel } from '@fusechat/model';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from './create-server.js';
import { serve } from './serve.js';
import {
  listenOnLoopback,
  MISTRAL_TOKENIZER_DIR,
  postJson,
  tinyModelAndTokenizer,
} from './testing/fixtures.js';

// A template closing each assistant turn with `<unk>` (id 0): a special token that is not the eos.
const UNK_TURN_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + '<unk>' }}{% endif %}{% endfor %}";
const PROMPT = [1, 415, 2936, 9060, 285];
const root = mkdtempSync(join(tmpdir(), 'fusechat-serve-stop-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Swaps two rows of lm_head: afterwards the model's argmax is `b` wherever it was `a`. */
async function swapLmHeadRows(
  model: Awaited<ReturnType<typeof tinyModelAndTokenizer>>['model'],
  a: number,
  b: number,
) {
  const head = model.weights.get('lm_head.weight')!;
  const [, hidden] = head.shape as [number, number];
  const values = Float32Array.from(await head.data());
  const rowA = values.slice(a * hidden, (a + 1) * hidden);
  values.copyWithin(a * hidden, b * hidden, (b + 1) * hidden);
  values.set(rowA, b * hidden);
  head.assign(tf.tensor(values, head.shape));
}

describe('where generation stops', () => {
  let fixture: Awaited<ReturnType<typeof tinyModelAndTokenizer>>;
  beforeAll(async () => {
    fixture = await tinyModelAndTokenizer(3);
  });
  afterAll(() => fixture?.model.dispose());

  it("chat replies stop at the template's end-of-turn token; plain completions do not", async () => {
    const { model, tokenizer } = fixture;
    const app = createServer({ model, tokenizer, modelName: 'tiny', chatTemplate: UNK_TURN_TEMPLATE });
    const base = await listenOnLoopback(app);
    try {
      const messages = [{ role: 'user', content: 'Tell me about whales.' }];
      const first = await postJson(`${base}/v1/chat/completions`, {
        messages,
        max_tokens: 1,
        temperature: 0,
        return_token_ids: true,
      });
      const greedyFirst = first.json.choices[0].token_ids[0] as number;
      expect(greedyFirst).not.toBe(0);
      // Now the first greedy reply token is <unk>, the template's end of turn.
      await swapLmHeadRows(model, greedyFirst, 0);
      const chat = await postJson(`${base}/v1/chat/completions`, {
        messages,
        max_tokens: 4,
        temperature: 0,
        return_token_ids: true,
      });
      expect(chat.json.choices[0].finish_reason).toBe('stop');
      expect(chat.json.choices[0].token_ids).toEqual([0]);
      const completion = await postJson(`${base}/v1/completions`, {
        prompt: chat.json.prompt_token_ids,
        max_tokens: 4,
        temperature: 0,
        return_token_ids: true,
      });
      expect(completion.json.choices[0].token_ids[0]).toBe(0);
      expect(completion.json.choices[0].finish_reason).toBe('length');
    } finally {
      await app.close();
    }
  });

  it("serve stops where generation_config.json's eos_token_id says, as vLLM does", async () => {
    const { model, tokenizer } = fixture;
    const dir = join(root, 'model');
    await saveModel(model, dir, { tokenizerDirectory: MISTRAL_TOKENIZER_DIR });
    const reference = createServer({ model, tokenizer, modelName: 'tiny' });
    const base = await listenOnLoopback(reference);
    let free: number[];
    try {
      free = (
        await postJson(`${base}/v1/completions`, {
          prompt: PROMPT,
          max_tokens: 5,
          temperature: 0,
          return_token_ids: true,
          ignore_eos: false,
        })
      ).json.choices[0].token_ids;
    } finally {
      await reference.close();
    }
    expect(free).toHaveLength(5);
    const stopAt = free[2]!;
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [2, stopAt] }));
    const loaded = await loadModel(dir);
    const server = await serve({ model: loaded, tokenizer, modelName: 'tiny', port: 0 });
    try {
      const answer = await postJson(`${server.url}/v1/completions`, {
        prompt: PROMPT,
        max_tokens: 5,
        temperature: 0,
        return_token_ids: true,
      });
      expect(answer.json.choices[0].token_ids).toEqual(free.slice(0, free.indexOf(stopAt) + 1));
      expect(answer.json.choices[0].finish_reason).toBe('stop');
    } finally {
      await server.close();
      loaded.dispose();
    }
  });
});
