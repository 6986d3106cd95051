import type { ProviderOutput } from '../logits-provider.js';
import {
  badResponse,
  checkTokenization,
  logprobValue,
  OutputBuilder,
  promptMismatch,
  type RemoteDialect,
  type RemoteServerFacts,
  tooFewEntries,
} from './remote-dialect.js';

/**
 * SGLang's native `/generate`. Capture sends `input_ids` with `return_logprob`,
 * `logprob_start_len: 0` (the default −1 returns output log-probabilities only) and
 * `top_logprobs_num: k`, one greedy new token. The probe sends each probe text as `text` with
 * `return_logprob` and reads the server's own tokenisation back from `input_token_logprobs`.
 * SGLang serves one model: `modelName` names it in the store, it is not sent.
 */
export const sglangDialect: RemoteDialect = {
  name: 'sglang',

  async probe(context, texts): Promise<RemoteServerFacts> {
    const { client, tokenizer } = context;
    const url = `${client.endpoint}/generate`;
    for (const text of texts) {
      const { json } = await client.request('POST', '/generate', {
        text,
        return_logprob: true,
        logprob_start_len: 0,
        sampling_params: { max_new_tokens: 1, temperature: 0 },
      });
      const entries = (json as { meta_info?: { input_token_logprobs?: unknown } })?.meta_info
        ?.input_token_logprobs;
      if (!Array.isArray(entries)) {
        throw badResponse(url, 'the answer has no meta_info.input_token_logprobs (is this SGLang?)');
      }
      const ids = entries.map((entry) => (Array.isArray(entry) ? entry[1] : undefined));
      if (!ids.every((id) => Number.isSafeInteger(id))) {
        throw badResponse(url, 'meta_info.input_token_logprobs entries are not [logprob, id, text]');
      }
      // SGLang tokenises text with the tokenizer's defaults (a BOS where the tokenizer adds one).
      checkTokenization(url, tokenizer, text, ids as number[], [
        tokenizer.encode(text, { addSpecialTokens: true }),
        tokenizer.encode(text, { addSpecialTokens: false }),
      ]);
    }
    return {};
  },

  async score(context, inputIds, k, signal): Promise<ProviderOutput> {
    const { client } = context;
    const url = `${client.endpoint}/generate`;
    const { json } = await client.request(
      'POST',
      '/generate',
      {
        input_ids: Array.from(inputIds),
        return_logprob: true,
        logprob_start_len: 0,
        top_logprobs_num: k,
        sampling_params: { max_new_tokens: 1, temperature: 0 },
        stream: false,
      },
      { signal },
    );
    return parseSglangGenerate(json, inputIds, k, url);
  },
};

/**
 * An SGLang `/generate` answer (`input_ids`, `return_logprob`, `logprob_start_len: 0`,
 * `top_logprobs_num: k`, one new token) as a provider output. `meta_info.input_token_logprobs` is
 * `[logprob, id, text]` per prompt position (logprob null at 0): its ids check the prompt, its
 * logprobs are the next-token log-probabilities. `meta_info.input_top_logprobs[t + 1]` holds the k
 * best `[logprob, id, text]` of row `t` (null at 0; the actual token is not added);
 * `output_top_logprobs[0]` is the last row. Entries are sorted by value (SGLang sends them sorted).
 *
 * @throws RemoteProviderError `REMOTE_PROMPT_MISMATCH`, `REMOTE_TOO_FEW_LOGPROBS`, `REMOTE_BAD_RESPONSE`.
 */
export function parseSglangGenerate(
  json: unknown,
  inputIds: Int32Array,
  k: number,
  url: string,
): ProviderOutput {
  const length = inputIds.length;
  const meta = (json as { meta_info?: Record<string, unknown> })?.meta_info;
  if (meta === undefined || meta === null || typeof meta !== 'object') {
    throw badResponse(url, 'the answer has no meta_info');
  }
  const tokenLogprobs = meta.input_token_logprobs;
  const topLogprobs = meta.input_top_logprobs;
  if (!Array.isArray(tokenLogprobs) || !Array.isArray(topLogprobs)) {
    throw badResponse(
      url,
      'meta_info has no input_token_logprobs / input_top_logprobs (was logprob_start_len: 0 dropped?)',
    );
  }
  if (tokenLogprobs.length !== length || topLogprobs.length !== length) {
    throw badResponse(
      url,
      `meta_info has ${tokenLogprobs.length} input_token_logprobs and ${topLogprobs.length} input_top_logprobs for a prompt of ${length} tokens`,
    );
  }
  const builder = new OutputBuilder(length, k);
  for (let t = 0; t < length; t++) {
    const entry = tokenLogprobs[t] as unknown[];
    if (!Array.isArray(entry) || entry[1] !== inputIds[t]) {
      throw promptMismatch(url, t, inputIds[t], Array.isArray(entry) ? (entry[1] as number) : undefined);
    }
    if (t > 0) builder.setNextTokenLogProb(t - 1, logprobValue(entry[0]));
  }
  const rowOf = (entries: unknown, position: number, where: string) => {
    if (!Array.isArray(entries)) throw badResponse(url, `${where} is not a list of [logprob, id, text]`);
    const row = entries.map((item) => {
      if (!Array.isArray(item) || !Number.isSafeInteger(item[1])) {
        throw badResponse(url, `${where} has an entry that is not [logprob, id, text]`);
      }
      return { id: item[1] as number, value: logprobValue(item[0]) };
    });
    if (row.length < k) throw tooFewEntries(url, position, row.length, k, 'SGLang');
    return row.sort((a, b) => b.value - a.value);
  };
  for (let t = 1; t < length; t++) {
    builder.setRow(t - 1, rowOf(topLogprobs[t], t - 1, `meta_info.input_top_logprobs[${t}]`));
  }
  const output = meta.output_top_logprobs;
  if (!Array.isArray(output) || output.length === 0) {
    throw badResponse(url, 'meta_info has no output_top_logprobs for the generated token');
  }
  builder.setRow(length - 1, rowOf(output[0], length - 1, 'meta_info.output_top_logprobs[0]'));
  return builder.build();
}
