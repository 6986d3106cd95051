import {
  EMPTY_SLOT,
  InvalidInputError,
  type SpaceMarkerConvention,
  type SparseDistributions,
} from '@fusechat/core';
import { alignDistributions, createDtwAligner, type DtwAligner } from '@fusechat/tokenizer-alignment';

/** What every aligner (in the main thread or a worker) needs once: both vocabularies and the map. */
export interface AlignWorkerSetup {
  /** `sourceTokens[id]`: the source vocabulary string of each id (`''` for a hole in the ids). */
  readonly sourceTokens: readonly string[];
  readonly pivotTokens: readonly string[];
  readonly sourceMarker: SpaceMarkerConvention;
  readonly pivotMarker: SpaceMarkerConvention;
  readonly sourceToPivot: Int32Array;
}

/** One example pair to align: ids and top-k rows of both sides (plain arrays, transferable). */
export interface AlignPairRequest {
  readonly id: number;
  readonly exampleId: string;
  readonly sourceIds: Int32Array;
  readonly sourceK: number;
  readonly sourceTopIds: Int32Array;
  readonly sourceTopLogits: Float32Array;
  readonly pivotIds: Int32Array;
  readonly pivotK: number;
  readonly pivotTopIds: Int32Array;
  readonly pivotTopLogits: Float32Array;
}

/** The re-indexed rows (on pivot positions and pivot ids) and how they were filled. */
export interface AlignPairResult {
  readonly id: number;
  readonly k: number;
  readonly ids: Int32Array;
  readonly logits: Float32Array;
  readonly mapped: number;
  readonly oneHot: number;
  readonly pivot: number;
}

export interface PairAligner {
  readonly setup: AlignWorkerSetup;
  readonly dtw: DtwAligner;
}

export function createPairAligner(setup: AlignWorkerSetup): PairAligner {
  return {
    setup,
    dtw: createDtwAligner({ sourceMarker: setup.sourceMarker, pivotMarker: setup.pivotMarker }),
  };
}

const strings = (vocabulary: readonly string[], ids: Int32Array, side: string, exampleId: string) => {
  const tokens = new Array<string>(ids.length);
  for (let position = 0; position < ids.length; position++) {
    const token = vocabulary[ids[position]!];
    if (token === undefined) {
      throw new InvalidInputError(
        `example "${exampleId}": ${side} token id ${ids[position]} at position ${position} is outside the ${side} vocabulary (${vocabulary.length} ids); was the ${side} store captured with another tokenizer?`,
        { code: 'ALIGN_UNKNOWN_TOKEN', details: { example: exampleId, side, position } },
      );
    }
    tokens[position] = token;
  }
  return tokens;
};

/**
 * DTW-aligns one example's source tokens to its pivot tokens and re-indexes the source's top-k
 * rows onto pivot positions and ids (DESIGN.md §3); positions left empty take the pivot's row.
 */
export function alignExamplePair(aligner: PairAligner, request: AlignPairRequest): AlignPairResult {
  const { setup, dtw } = aligner;
  const sourceTokens = strings(setup.sourceTokens, request.sourceIds, 'source', request.exampleId);
  const pivotTokens = strings(setup.pivotTokens, request.pivotIds, 'pivot', request.exampleId);
  const distributions = (length: number, k: number, ids: Int32Array, logits: Float32Array) =>
    ({ length, k, ids, logits }) satisfies SparseDistributions;
  // Ids past the tokenizer (a model's padding rows, e.g. Qwen2's 151,936 rows for 151,665 tokens)
  // name no token: nothing to map them to, so they leave the row (which keeps its order).
  const mappable = setup.sourceToPivot.length;
  for (let slot = 0; slot < request.sourceTopIds.length; slot++)
    if (request.sourceTopIds[slot]! >= mappable) request.sourceTopIds[slot] = EMPTY_SLOT;
  const alignment = dtw.align(sourceTokens, pivotTokens);
  const result = alignDistributions({
    source: {
      tokens: sourceTokens,
      distributions: distributions(
        request.sourceIds.length,
        request.sourceK,
        request.sourceTopIds,
        request.sourceTopLogits,
      ),
      marker: setup.sourceMarker,
    },
    pivot: {
      tokens: pivotTokens,
      inputIds: request.pivotIds,
      distributions: distributions(
        request.pivotIds.length,
        request.pivotK,
        request.pivotTopIds,
        request.pivotTopLogits,
      ),
      marker: setup.pivotMarker,
    },
    sourceToPivot: setup.sourceToPivot,
    alignment,
  });
  let mapped = 0;
  let oneHot = 0;
  let pivot = 0;
  for (const origin of result.origins) {
    if (origin === 'mapped') mapped++;
    else if (origin === 'one-hot') oneHot++;
    else pivot++;
  }
  return {
    id: request.id,
    k: result.distributions.k,
    ids: result.distributions.ids,
    logits: result.distributions.logits,
    mapped,
    oneHot,
    pivot,
  };
}
