// Worker thread of `alignStore`: DTW-aligns and re-indexes the examples it is sent, with one
// long-lived aligner (its token caches pay off across examples of the same two vocabularies).
import { parentPort, workerData } from 'node:worker_threads';
import {
  type AlignPairRequest,
  type AlignWorkerSetup,
  alignExamplePair,
  createPairAligner,
} from './align-pair.js';

const setup = workerData as AlignWorkerSetup;
const aligner = createPairAligner(setup);
parentPort!.on('message', (request: AlignPairRequest) => {
  try {
    const result = alignExamplePair(aligner, request);
    parentPort!.postMessage(result, [result.ids.buffer as ArrayBuffer, result.logits.buffer as ArrayBuffer]);
  } catch (error) {
    parentPort!.postMessage({
      id: request.id,
      error: {
        message: error instanceof Error ? error.message : String(error),
        code: (error as { code?: unknown }).code,
        name: error instanceof Error ? error.name : undefined,
      },
    });
  }
});
