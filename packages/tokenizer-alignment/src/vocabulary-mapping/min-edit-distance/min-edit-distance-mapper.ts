import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CodePointTable } from '../../edit-distance/code-points.js';
import { swapSpaceMarker } from '../../token-strings/space-marker.js';
import type { VocabularyMapper, VocabularyMappingRequest } from '../vocabulary-mapper.js';
import {
  characterSignature,
  type NearestTokenQueries,
  type NearestTokenTables,
  nearestTokenKernel,
} from './nearest-token-kernel.js';

/** Queries per unit of work handed to a worker (small enough to balance, large enough to amortise). */
const BLOCK_SIZE = 1024;

/**
 * `min-edit-distance` (DESIGN.md §3): each open source id goes to the pivot token with the
 * smallest code-point Levenshtein distance between the marker-swapped source token and the raw
 * pivot token, the first in pivot-id order on ties — the brute-force argmin, computed with
 * length buckets, character-signature bounds and early-exit distances
 * ({@link nearestTokenKernel}), on `request.workers` threads (default: all cores).
 *
 * @example
 * ```ts
 * const map = await buildVocabularyMap(qwen, mistral, { method: 'min-edit-distance' });
 * ```
 */
export const minEditDistanceMapper: VocabularyMapper = {
  name: 'min-edit-distance',
  async map(request: VocabularyMappingRequest): Promise<Int32Array> {
    const { tables, candidateIds } = nearestTokenTables(request.pivotTokens);
    const result = new Int32Array(request.unresolved.length).fill(request.fallbackId);
    // Source ids without a string keep the fallback; the others become queries.
    const queryPositions: number[] = [];
    const queryStrings: string[] = [];
    request.unresolved.forEach((sourceId, position) => {
      const token = request.sourceTokens[sourceId];
      if (token === undefined) return;
      queryPositions.push(position);
      queryStrings.push(swapSpaceMarker(token, request.sourceMarker, request.pivotMarker));
    });
    if (candidateIds.length === 0 || queryStrings.length === 0) return result;

    const blocks: NearestTokenQueries[] = [];
    for (let start = 0; start < queryStrings.length; start += BLOCK_SIZE) {
      blocks.push(codePointBatch(queryStrings.slice(start, start + BLOCK_SIZE)));
    }
    const workers = Math.max(1, Math.min(request.workers ?? availableParallelism(), blocks.length));
    const answers = await runBlocks(
      tables,
      blocks,
      workers,
      (done) =>
        request.onProgress?.({
          task: 'vocabulary map (min-edit-distance)',
          completed: Math.min(done * BLOCK_SIZE, queryStrings.length),
          total: queryStrings.length,
          unit: 'tokens',
        }),
      request.signal,
    );
    answers.forEach((answer, block) => {
      for (let k = 0; k < answer.length; k++) {
        const position = queryPositions[block * BLOCK_SIZE + k]!;
        result[position] = answer[k]! >= 0 ? candidateIds[answer[k]!]! : request.fallbackId;
      }
    });
    return result;
  },
};

/** Candidate tables over every pivot id that has a string, in ascending id order. */
export function nearestTokenTables(pivotTokens: readonly (string | undefined)[]): {
  tables: NearestTokenTables;
  candidateIds: Int32Array;
} {
  const ids: number[] = [];
  const table = new CodePointTable();
  for (let id = 0; id < pivotTokens.length; id++) {
    const token = pivotTokens[id];
    if (token === undefined) continue;
    ids.push(id);
    table.add(token);
  }
  const count = ids.length;
  const offsets = table.offsets.slice(0, count + 1);
  const codes = table.codes.slice(0, offsets[count] ?? 0);
  const signatures = new Int32Array(4 * count);
  let maxLength = 0;
  for (let k = 0; k < count; k++) {
    characterSignature(codes, offsets[k]!, offsets[k + 1]!, signatures, k);
    maxLength = Math.max(maxLength, offsets[k + 1]! - offsets[k]!);
  }
  const lengthStarts = new Int32Array(maxLength + 2);
  for (let k = 0; k < count; k++) lengthStarts[offsets[k + 1]! - offsets[k]! + 1]!++;
  for (let length = 1; length < lengthStarts.length; length++)
    lengthStarts[length]! += lengthStarts[length - 1]!;
  const fill = lengthStarts.slice();
  const byLength = new Int32Array(count);
  for (let k = 0; k < count; k++) byLength[fill[offsets[k + 1]! - offsets[k]!]!++] = k;
  const blockSignatures = new Int32Array(4 * Math.ceil(count / 16));
  for (let position = 0; position < count; position++) {
    for (let word = 0; word < 4; word++) {
      blockSignatures[4 * (position >>> 4) + word]! |= signatures[4 * byLength[position]! + word]!;
    }
  }
  return {
    tables: { codes, offsets, signatures, lengthStarts, byLength, blockSignatures },
    candidateIds: Int32Array.from(ids),
  };
}

/** Code points of a batch of strings. */
export function codePointBatch(strings: readonly string[]): NearestTokenQueries {
  const table = new CodePointTable();
  for (const text of strings) table.add(text);
  const offsets = table.offsets.slice(0, strings.length + 1);
  return { codes: table.codes.slice(0, offsets[strings.length] ?? 0), offsets };
}

// The kernel runs from its own source text; \`__name\` is the helper esbuild (tsx, vitest) inserts
// to keep function names, which the evaluated worker would not otherwise define.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const __name = (target) => target;
const nearestTokenKernel = (${nearestTokenKernel.toString()});
parentPort.on('message', (message) => {
  const answer = nearestTokenKernel(workerData, message.queries);
  parentPort.postMessage({ block: message.block, answer }, [answer.buffer]);
});
`;

async function runBlocks(
  tables: NearestTokenTables,
  blocks: NearestTokenQueries[],
  workerCount: number,
  onBlockDone: (done: number) => void,
  signal: AbortSignal | undefined,
): Promise<Int32Array[]> {
  const answers = new Array<Int32Array>(blocks.length);
  if (workerCount <= 1) {
    for (let block = 0; block < blocks.length; block++) {
      signal?.throwIfAborted();
      answers[block] = nearestTokenKernel(tables, blocks[block]!);
      onBlockDone(block + 1);
    }
    return answers;
  }
  const workers = Array.from(
    { length: workerCount },
    () => new Worker(WORKER_SOURCE, { eval: true, workerData: tables }),
  );
  try {
    let next = 0;
    let done = 0;
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const dispatch = () => {
              if (signal?.aborted) return reject(signal.reason);
              if (next >= blocks.length) return resolve();
              const block = next++;
              worker.postMessage({ block, queries: blocks[block] });
            };
            worker.on('message', (message: { block: number; answer: Int32Array }) => {
              answers[message.block] = message.answer;
              onBlockDone(++done);
              dispatch();
            });
            worker.on('error', reject);
            dispatch();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return answers;
}
