// Child process of capture-remote-model.kill.test.ts: captures argv[3] from the fixture server at
// argv[2] into argv[4], printing a line after every window (and pausing argv[5] ms, so a SIGKILL
// can land between commits).
import { captureRemoteModel } from '../../capture-remote-model/capture-remote-model.js';
import { QWEN3_TOKENIZER_DIR } from './remote-capture-fixtures.js';

const [endpoint, data, out, pause] = process.argv.slice(2);
const summary = await captureRemoteModel({
  endpoint: endpoint!,
  modelName: 'fixture/qwen',
  tokenizerDir: QWEN3_TOKENIZER_DIR,
  dialect: 'vllm',
  data: data!,
  out: out!,
  k: 4,
  batchTokens: 90,
  concurrency: 3,
  store: { blockExamples: 2, shardTargetBytes: 1_500 },
  onProgress: (event) => {
    process.stdout.write(`completed ${event.completed}\n`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(pause ?? 0));
  },
});
process.stdout.write(`finished resumedFrom ${summary.resumedFrom}\n`);
