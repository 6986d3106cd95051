// Child process of capture-distributions.kill.test.ts: captures the test examples into argv[2]
// on the cpu backend, printing a line after every window (and pausing, so a SIGKILL can land).
import { captureDistributions } from '../capture-distributions.js';
import { createLocalProvider } from '../local-provider/create-local-provider.js';
import { CAPTURE_LENGTHS, CAPTURE_SETTINGS, captureExamples, fakeTokenizer, tinyModel } from './fixtures.js';
import { useBackend } from './test-backends.js';

await useBackend('cpu');
const model = tinyModel();
const provider = createLocalProvider(model, fakeTokenizer(model.config.vocabSize), { batchTokens: 16 });
const summary = await captureDistributions({
  ...CAPTURE_SETTINGS,
  provider,
  examples: captureExamples(CAPTURE_LENGTHS, model.config.vocabSize),
  out: process.argv[2]!,
  onProgress: (event) => {
    process.stdout.write(`completed ${event.completed}\n`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[3] ?? 0));
  },
});
process.stdout.write(`finished resumedFrom ${summary.resumedFrom}\n`);
