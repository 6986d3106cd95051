// The hardening regression corpus: bad inputs of every class fusechat must answer with one coded
// line (issue 14), generated from a tiny real checkpoint — nothing binary is committed.
import { execFileSync } from 'node:child_process';
import { closeSync, cpSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireOutputLock } from '@fusechat/core/node';
import { openCheckpoint, writeSafetensors } from '@fusechat/safetensors';

/** One bad input and the answer it must get. */
export interface BadInput {
  /** Class of problem (as issue 14 lists them). */
  readonly kind:
    | 'non-finite'
    | 'config-meaning'
    | 'untrusted-size'
    | 'unbounded-input'
    | 'out-safety'
    | 'hygiene';
  readonly name: string;
  /** Arguments of `fusechat` (run in `cwd`). */
  readonly argv: readonly string[];
  readonly cwd?: string;
  /** Expected exit code and error code (`null`: must succeed). */
  readonly exit: 0 | 1 | 2;
  readonly code: string | null;
  /** Directories whose contents must be unchanged afterwards. */
  readonly untouched: readonly string[];
  /** For a case that must succeed: argv whose stdout it must equal (e.g. greedy decoding). */
  readonly sameOutputAs?: readonly string[];
  /** Runs before the command (e.g. takes a lock), returns what to undo after. */
  readonly before?: () => Promise<(() => Promise<void>) | undefined>;
}

/** An edit of config.json that sets one key. */
const setKey = (key: string, value: unknown) => (config: Record<string, unknown>) => {
  config[key] = value;
};

/** Writes a copy of `modelDir` with `config.json` edited and/or one tensor's values edited. */
async function variant(
  root: string,
  modelDir: string,
  name: string,
  edit: {
    config?: (config: Record<string, unknown>) => void;
    tensor?: [string, (values: Float32Array) => void];
  },
): Promise<string> {
  const dir = join(root, name);
  cpSync(modelDir, dir, { recursive: true });
  if (edit.config) {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    edit.config(config);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  }
  if (edit.tensor) {
    const checkpoint = await openCheckpoint(modelDir);
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    try {
      for (const [tensorName, info] of checkpoint.tensors) {
        const data = await checkpoint.readFloat32(tensorName);
        if (tensorName === edit.tensor[0]) edit.tensor[1](data);
        tensors[tensorName] = { dtype: 'F32', shape: [...info.shape], data };
      }
    } finally {
      await checkpoint.close();
    }
    await writeSafetensors(join(dir, 'model.safetensors'), tensors, { metadata: { format: 'pt' } });
  }
  return dir;
}

/**
 * Generates the corpus under `root` from a tiny Llama checkpoint `modelDir` (config.json,
 * model.safetensors, tokenizer files) and returns the cases.
 */
export async function writeBadInputCorpus(root: string, modelDir: string): Promise<BadInput[]> {
  mkdirSync(root, { recursive: true });
  const data = join(root, 'data.jsonl');
  writeFileSync(
    data,
    `${JSON.stringify({ text: 'Call me Ishmael. Some years ago, never mind how long.' })}\n`,
  );
  const cases: BadInput[] = [];
  const add = (item: Omit<BadInput, 'untouched'> & { untouched?: readonly string[] }) =>
    cases.push({ untouched: [modelDir], ...item });
  const evalOn = (model: string, ...rest: string[]) => [
    'eval',
    '--model',
    model,
    '--data',
    data,
    '--backend',
    'cpu',
    ...rest,
  ];
  const generateOn = (model: string, ...rest: string[]) => [
    'generate',
    '--model',
    model,
    '--prompt',
    'Call me',
    '--max-new-tokens',
    '3',
    '--backend',
    'cpu',
    ...rest,
  ];

  // 1. Non-finite weights and impossible config values.
  const nan = await variant(root, modelDir, 'nan-weights', {
    tensor: [
      'model.layers.0.mlp.down_proj.weight',
      (values) => {
        values[7] = Number.NaN;
      },
    ],
  });
  const inf = await variant(root, modelDir, 'inf-weights', {
    tensor: [
      'model.norm.weight',
      (values) => {
        values[0] = Number.POSITIVE_INFINITY;
      },
    ],
  });
  for (const [model, label] of [
    [nan, 'NaN'],
    [inf, 'Inf'],
  ] as const) {
    add({
      kind: 'non-finite',
      name: `eval, ${label} weight`,
      argv: evalOn(model),
      exit: 1,
      code: 'MODEL_NON_FINITE_WEIGHTS',
      untouched: [model],
    });
    add({
      kind: 'non-finite',
      name: `generate, ${label} weight`,
      argv: generateOn(model),
      exit: 1,
      code: 'MODEL_NON_FINITE_WEIGHTS',
      untouched: [model],
    });
  }
  const meaning: [string, (config: Record<string, unknown>) => void][] = [
    ['negative rms_norm_eps', setKey('rms_norm_eps', -1e-6)],
    ['zero rms_norm_eps', setKey('rms_norm_eps', 0)],
    ['zero rope_theta', setKey('rope_theta', 0)],
    ['heads not dividing hidden_size', setKey('num_attention_heads', 3)],
    ['more kv heads than heads', setKey('num_key_value_heads', 4)],
    ['eos_token_id outside the vocabulary', setKey('eos_token_id', 32000)],
    ['num_hidden_layers as a string', setKey('num_hidden_layers', '2')],
  ];
  for (const [label, edit] of meaning) {
    const model = await variant(root, modelDir, `config-${label.replace(/\W+/g, '-')}`, { config: edit });
    add({
      kind: 'config-meaning',
      name: `eval, ${label}`,
      argv: evalOn(model),
      exit: 1,
      code: 'MODEL_INVALID_CONFIG',
      untouched: [model],
    });
    add({
      kind: 'config-meaning',
      name: `generate, ${label}`,
      argv: generateOn(model),
      exit: 1,
      code: 'MODEL_INVALID_CONFIG',
      untouched: [model],
    });
  }
  add({
    kind: 'non-finite',
    name: 'generate, a denormal temperature samples the argmax (succeeds)',
    argv: generateOn(modelDir, '--temperature', '5e-324', '--seed', '3'),
    exit: 0,
    code: null,
    sameOutputAs: generateOn(modelDir),
  });

  // 2. Sizes from files that would drive allocation.
  const sizes: [string, (config: Record<string, unknown>) => void, string][] = [
    ['num_hidden_layers 1e9', setKey('num_hidden_layers', 1_000_000_000), 'MODEL_INVALID_CONFIG'],
    ['vocab_size 1e12', setKey('vocab_size', 1e12), 'MODEL_INVALID_CONFIG'],
    ['hidden_size 2^31', setKey('hidden_size', 2 ** 31), 'MODEL_INVALID_CONFIG'],
    ['intermediate_size 2^40', setKey('intermediate_size', 2 ** 40), 'MODEL_INVALID_CONFIG'],
    ['max_position_embeddings 1e15', setKey('max_position_embeddings', 1e15), 'MODEL_INVALID_CONFIG'],
    ['head_dim 2^20', setKey('head_dim', 2 ** 20), 'MODEL_INVALID_CONFIG'],
    ['one layer more than the weights', setKey('num_hidden_layers', 3), 'MODEL_MISSING_TENSOR'],
    ['intermediate_size unlike the weights', setKey('intermediate_size', 64), 'MODEL_TENSOR_SHAPE_MISMATCH'],
  ];
  for (const [label, edit, code] of sizes) {
    const model = await variant(root, modelDir, `size-${label.replace(/\W+/g, '-')}`, { config: edit });
    add({
      kind: 'untrusted-size',
      name: `eval, ${label}`,
      argv: evalOn(model),
      exit: 1,
      code,
      untouched: [model],
    });
    add({
      kind: 'untrusted-size',
      name: `generate, ${label}`,
      argv: generateOn(model),
      exit: 1,
      code,
      untouched: [model],
    });
  }

  // 3. Unbounded inputs.
  const longLine = join(root, 'long-line.jsonl');
  // 65 MiB without a newline, as a sparse file (no disk written, no 65 MB string built).
  const longFd = openSync(longLine, 'w');
  ftruncateSync(longFd, 65 * 1024 * 1024);
  closeSync(longFd);
  add({
    kind: 'unbounded-input',
    name: 'eval, a 65 MiB JSONL line',
    argv: ['eval', '--model', modelDir, '--data', longLine, '--backend', 'cpu'],
    exit: 1,
    code: 'CHAT_LINE_TOO_LONG',
  });
  add({
    kind: 'unbounded-input',
    name: 'eval, --data /dev/zero',
    argv: ['eval', '--model', modelDir, '--data', '/dev/zero', '--backend', 'cpu'],
    exit: 1,
    code: 'INPUT_NOT_A_FILE',
  });
  const fifo = join(root, 'data.fifo');
  execFileSync('mkfifo', [fifo]);
  add({
    kind: 'unbounded-input',
    name: 'eval, --data a FIFO without a writer',
    argv: ['eval', '--model', modelDir, '--data', fifo, '--backend', 'cpu'],
    exit: 1,
    code: 'INPUT_NOT_A_FILE',
  });
  add({
    kind: 'unbounded-input',
    name: 'generate, a prompt longer than max_position_embeddings',
    argv: ['generate', '--model', modelDir, '--prompt', 'whale '.repeat(2100), '--backend', 'cpu'],
    exit: 1,
    code: 'CLI_PROMPT_TOO_LONG',
  });
  const smallContext = await variant(root, modelDir, 'long-context', {
    config: setKey('max_position_embeddings', 1_000_000),
  });
  const longText = join(root, 'long-text.jsonl');
  writeFileSync(
    longText,
    `${JSON.stringify({ input_ids: Array.from({ length: 400_000 }, (_, i) => 3 + (i % 1000)) })}\n`,
  );
  add({
    kind: 'unbounded-input',
    name: 'eval, a 400k-token sequence whose attention would need terabytes',
    argv: ['eval', '--model', smallContext, '--data', longText, '--max-length', '400000', '--backend', 'cpu'],
    exit: 1,
    code: 'MODEL_MEMORY_BUDGET',
    untouched: [smallContext],
  });

  // 4. --out safety (merge).
  const mergeConfig = join(root, 'merge.yml');
  writeFileSync(
    mergeConfig,
    `merge_method: linear\nmodels:\n  - model: ${modelDir}\n    parameters: {weight: 0.5}\n  - model: ${nan}\n    parameters: {weight: 0.5}\n`,
  );
  const linearConfig = join(root, 'merge-self.yml');
  writeFileSync(
    linearConfig,
    `merge_method: linear\nmodels:\n  - model: ${modelDir}\n    parameters: {weight: 1.0}\n`,
  );
  add({
    kind: 'out-safety',
    name: 'merge, --out is an input model with --overwrite',
    argv: ['merge', linearConfig, '--out', modelDir, '--overwrite'],
    exit: 1,
    code: 'MERGE_PREFLIGHT_FAILED',
  });
  const workdir = join(root, 'workdir');
  mkdirSync(workdir);
  writeFileSync(join(workdir, 'notes.txt'), 'unrelated work');
  add({
    kind: 'out-safety',
    name: 'merge, --out . --overwrite (the working directory)',
    argv: ['merge', linearConfig, '--out', '.', '--overwrite'],
    cwd: workdir,
    exit: 1,
    code: 'MERGE_PREFLIGHT_FAILED',
    untouched: [modelDir, workdir],
  });
  add({
    kind: 'out-safety',
    name: 'merge, --out inside an input model',
    argv: ['merge', linearConfig, '--out', join(modelDir, 'merged')],
    exit: 1,
    code: 'MERGE_PREFLIGHT_FAILED',
  });
  add({
    kind: 'out-safety',
    name: "merge, --out's parent is a file",
    argv: ['merge', linearConfig, '--out', join(data, 'merged')],
    exit: 1,
    code: 'MERGE_PREFLIGHT_FAILED',
  });
  const lockedOut = join(root, 'merged-locked');
  add({
    kind: 'out-safety',
    name: 'merge, another merge is writing the same --out',
    argv: ['merge', linearConfig, '--out', lockedOut],
    exit: 1,
    code: 'OUTPUT_LOCKED',
    before: async () => {
      const lock = await acquireOutputLock(lockedOut);
      return () => lock.release();
    },
  });
  add({
    kind: 'out-safety',
    name: 'merge, a non-finite input model',
    argv: ['merge', mergeConfig, '--out', join(root, 'merged-nan')],
    exit: 1,
    code: 'MERGE_NON_FINITE',
    untouched: [modelDir, nan],
  });

  // 5. Error hygiene.
  const badYaml = join(root, 'bad.yml');
  writeFileSync(badYaml, 'merge_method: linear\nmodels: [\n  - model: a');
  add({
    kind: 'hygiene',
    name: 'merge, a YAML syntax error',
    argv: ['merge', badYaml, '--out', join(root, 'm1')],
    exit: 1,
    code: 'MERGE_CONFIG_YAML',
  });
  const fifoConfig = join(root, 'config.fifo');
  execFileSync('mkfifo', [fifoConfig]);
  add({
    kind: 'hygiene',
    name: 'merge, the config is a FIFO',
    argv: ['merge', fifoConfig, '--out', join(root, 'm2')],
    exit: 1,
    code: 'INPUT_NOT_A_FILE',
  });
  add({
    kind: 'hygiene',
    name: 'train, the config is a FIFO',
    argv: ['train', fifoConfig],
    exit: 1,
    code: 'INPUT_NOT_A_FILE',
  });
  const fifoModel = join(root, 'fifo-model');
  mkdirSync(fifoModel);
  execFileSync('mkfifo', [join(fifoModel, 'config.json')]);
  add({
    kind: 'hygiene',
    name: 'eval, config.json is a FIFO',
    argv: evalOn(fifoModel),
    exit: 1,
    code: 'INPUT_NOT_A_FILE',
  });
  const badTemplate = await variant(root, modelDir, 'bad-chat-template', {});
  writeFileSync(
    join(badTemplate, 'tokenizer_config.json'),
    JSON.stringify({
      ...JSON.parse(readFileSync(join(modelDir, 'tokenizer_config.json'), 'utf8')),
      chat_template: '{% for m in messages %}{{ m.content ',
    }),
  );
  const chat = join(root, 'chat.jsonl');
  writeFileSync(
    chat,
    `${JSON.stringify({
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
      ],
    })}\n`,
  );
  add({
    kind: 'hygiene',
    name: 'eval, a malformed chat_template',
    argv: ['eval', '--model', badTemplate, '--data', chat, '--backend', 'cpu'],
    exit: 1,
    code: 'CHAT_TEMPLATE_ERROR',
    untouched: [badTemplate],
  });
  const numberTemplate = await variant(root, modelDir, 'number-template', {});
  writeFileSync(join(numberTemplate, 'tokenizer_config.json'), JSON.stringify({ chat_template: 42 }));
  add({
    kind: 'hygiene',
    name: 'eval, chat_template is a number',
    argv: ['eval', '--model', numberTemplate, '--data', chat, '--backend', 'cpu'],
    exit: 1,
    code: 'CHAT_NO_TEMPLATE',
    untouched: [numberTemplate],
  });
  add({
    kind: 'hygiene',
    name: 'usage, an unknown option',
    argv: ['eval', '--model', modelDir, '--data', data, '--bogus'],
    exit: 2,
    code: 'CLI_USAGE',
  });
  add({
    kind: 'hygiene',
    name: 'usage, a missing required option',
    argv: ['merge', mergeConfig],
    exit: 2,
    code: 'CLI_USAGE',
  });
  add({
    kind: 'hygiene',
    name: 'usage, an unknown backend',
    argv: evalOn(modelDir, '--backend', 'tpu'),
    exit: 2,
    code: 'CLI_USAGE',
  });
  add({
    kind: 'hygiene',
    name: 'usage, a bad number',
    argv: evalOn(modelDir, '--batch-size', '-3'),
    exit: 2,
    code: 'CLI_INVALID_NUMBER',
  });
  add({
    kind: 'hygiene',
    name: 'usage, a bad --threads',
    argv: evalOn(modelDir, '--threads', 'two'),
    exit: 2,
    code: 'CLI_INVALID_NUMBER',
  });
  add({
    kind: 'hygiene',
    name: 'usage, an unknown command',
    argv: ['fuse-everything'],
    exit: 2,
    code: 'CLI_USAGE',
  });
  return cases;
}
