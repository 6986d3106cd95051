import type { ScoredSequence } from '../scoring/create-scoring-queue.js';

/** vLLM's `Logprob` (vllm/logprobs.py, commit 578b601c): `rank` ≥ 1 over the full vocabulary. */
export interface VllmLogprob {
  readonly logprob: number;
  readonly rank: number;
  readonly decoded_token: string;
}

/** One position's `{token id → Logprob}` dict, in vLLM's order: the actual token, then the top-k by rank. */
export type PositionLogprobs = Map<number, VllmLogprob>;

/** The lowest log-probability written: vLLM clamps `-inf` to −9999.0 (`clamp_prompt_logprobs`, `_create_completion_logprobs`). */
export const LOGPROB_FLOOR = -9999;

const clamp = (value: number): number =>
  value >= LOGPROB_FLOOR ? value : Number.isNaN(value) ? value : LOGPROB_FLOOR;

/**
 * The dict vLLM builds for one position (`append_logprobs_for_next_position` in vllm/logprobs.py,
 * commit 578b601c): the actual token first with its true rank, then the top `k` with ranks
 * 1..k. As in Python's dict, an actual token inside the top-k keeps its first place and takes
 * the top-k entry's value (so k entries, else k + 1).
 *
 * `row` is the scored row that predicts `actualId`.
 */
export function positionLogprobs(
  scored: ScoredSequence,
  row: number,
  actualId: number,
  k: number,
  decode: (id: number) => string,
): PositionLogprobs {
  const entries: PositionLogprobs = new Map();
  entries.set(actualId, {
    logprob: clamp(scored.nextTokenLogProbs[row]!),
    rank: scored.nextTokenRanks[row]!,
    decoded_token: decode(actualId),
  });
  for (let j = 0; j < k; j++) {
    const id = scored.ids[row * scored.k + j]!;
    entries.set(id, {
      logprob: clamp(scored.logProbs[row * scored.k + j]!),
      rank: j + 1,
      decoded_token: decode(id),
    });
  }
  return entries;
}

/**
 * `prompt_logprobs` of a completion choice: as long as the prompt, `null` at position 0 (vLLM's
 * `create_prompt_logprobs`), then {@link positionLogprobs} for each prompt token. `scored` covers
 * at least the prompt.
 */
export function promptLogprobs(
  prompt: readonly number[],
  scored: ScoredSequence,
  k: number,
  decode: (id: number) => string,
): (PositionLogprobs | null)[] {
  const result: (PositionLogprobs | null)[] = [null];
  for (let t = 1; t < prompt.length; t++) result.push(positionLogprobs(scored, t - 1, prompt[t]!, k, decode));
  return result;
}

/** OpenAI's completion `logprobs` object (`CompletionLogProbs` in vLLM's completion/protocol.py). */
export interface CompletionLogProbs {
  readonly text_offset: number[];
  readonly token_logprobs: (number | null)[];
  readonly tokens: string[];
  readonly top_logprobs: (Map<string, number> | null)[];
}

/**
 * Builds the OpenAI-style object as vLLM's `_create_completion_logprobs`
 * (vllm/entrypoints/openai/completion/serving.py, commit 030ea52e): per token its decoded
 * string (or `token_id:N` with `return_tokens_as_token_ids`), its log-probability, and a dict
 * of the position's first `num + 1` entries (the actual token, then the top-`num`) keyed by
 * decoded string; positions without a dict (the first prompt token) get `null`s. `text_offset`
 * advances by the previous token's length in code points (Python's `len`).
 */
export function completionLogprobs(
  tokenIds: readonly number[],
  positions: readonly (PositionLogprobs | null)[],
  num: number,
  decode: (id: number) => string,
  asTokenIds: boolean,
  initialTextOffset = 0,
): CompletionLogProbs {
  const name = (id: number, entry?: VllmLogprob): string =>
    asTokenIds ? `token_id:${id}` : (entry?.decoded_token ?? decode(id));
  const result: CompletionLogProbs = { text_offset: [], token_logprobs: [], tokens: [], top_logprobs: [] };
  let lastLength = 0;
  tokenIds.forEach((id, i) => {
    const position = positions[i] ?? null;
    let token: string;
    if (position === null) {
      token = name(id);
      result.tokens.push(token);
      result.token_logprobs.push(null);
      result.top_logprobs.push(null);
    } else {
      const own = position.get(id)!;
      token = name(id, own);
      result.tokens.push(token);
      result.token_logprobs.push(Math.max(own.logprob, LOGPROB_FLOOR));
      const top = new Map<string, number>();
      let index = 0;
      for (const [entryId, entry] of position) {
        if (index++ > num) break;
        top.set(name(entryId, entry), Math.max(entry.logprob, LOGPROB_FLOOR));
      }
      result.top_logprobs.push(top);
    }
    result.text_offset.push(i === 0 ? initialTextOffset : result.text_offset[i - 1]! + lastLength);
    lastLength = [...token].length;
  });
  return result;
}
