// Worker of `pnpm bench alignment`: aligns its share of the chunks with its own aligner.
import { parentPort, workerData } from 'node:worker_threads';
import { createDtwAligner } from '../src/index.js';

const { markers, chunks, repeats } = workerData as {
  markers: { sourceMarker: string; pivotMarker: string };
  chunks: { source: string[]; pivot: string[] }[];
  repeats: number;
};
const aligner = createDtwAligner(markers);
for (const chunk of chunks) aligner.align(chunk.source, chunk.pivot); // warm-up
parentPort!.postMessage('ready');
parentPort!.once('message', () => {
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const chunk of chunks) aligner.align(chunk.source, chunk.pivot);
  }
  parentPort!.postMessage('done');
});
