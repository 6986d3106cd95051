// The reproduction of docs/results.md: FuseChat's Table 1 analogue on the demo's teachers.
//
//   node --conditions=source --import ./scripts/register-source-hooks.mjs --import tsx \
//     scripts/reproduce.ts [--seeds 1,2,3] [--out DIR] [--quick] [--backend wasm] [--threads N]
//
// 1. Hyperparameters (λ, learning rate, steps) are chosen on the validation split with the first
//    seed: a grid of `fusechat run`s of the demo's pipeline; the fused (VaRM) model's mean
//    validation loss picks the fusion setting, the CLM-only control's own validation loss picks
//    the control's (both tuned, so the control is as honest as the method).
// 2. Every seed runs the pipeline with the chosen settings (the control's run too when its
//    setting differs); numbers are reported on the test split only.
// 3. The targets of every seed are also merged with linear, task arithmetic, TIES, DARE-TIES and
//    SCE (the merge engine `fusechat merge` runs), each scored on the test split like the
//    pipeline's eval stage does.
// 4. docs/results.md: per-domain test perplexity per model (mean ± sample standard deviation over
//    seeds), the command, machine, time, seeds, and plainly whether fusion beat the control and
//    each single target against the seed spread.
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type BackendRequest, initBackend } from '../packages/backend/src/index.js';
import { writeDemoPipeline } from '../packages/cli/src/demo/demo-pipeline.js';
import { formatDuration } from '../packages/core/src/index.js';
import { mergeModels } from '../packages/merge/src/index.js';
import { loadModel } from '../packages/model/src/index.js';
import { loadPipelineConfig, type PipelineResults, runPipeline } from '../packages/pipeline/src/index.js';
import { loadTokenizer } from '../packages/tokenizer-alignment/src/index.js';
import { createChatDataset, evaluateDataset } from '../packages/training/src/index.js';

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '1,2,3' },
    out: { type: 'string' },
    quick: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string' },
    results: { type: 'string' },
  },
});
const quick = args.quick ?? false;
const seeds = args.seeds!.split(',').map(Number);
const out = resolve(args.out ?? (quick ? '/tmp/fusechat-reproduce-quick' : 'reproduce-runs'));
const resultsFile = resolve(args.results ?? (quick ? join(out, 'results.md') : 'docs/results.md'));
const started = performance.now();
const elapsed = () => formatDuration((performance.now() - started) / 1000);
const say = (line: string) => console.log(`[${elapsed()}] ${line}`);

const backend = await initBackend(args.backend as BackendRequest, {
  ...(args.threads === undefined ? {} : { wasmThreads: Number(args.threads) }),
});
const DATA = quick ? { fusionExamples: 3, evalExamples: 2 } : { fusionExamples: 48, evalExamples: 24 };
const DATA_SEED = 7;

interface Setting {
  readonly lambda: number;
  readonly learningRate: number;
  readonly steps: number;
}
const key = (s: Setting) => `l${s.lambda}-lr${s.learningRate}-s${s.steps}`;
const GRID: Setting[] = quick
  ? [{ lambda: 0.9, learningRate: 2e-3, steps: 1 }]
  : [
      { lambda: 0.9, learningRate: 1e-3, steps: 30 },
      { lambda: 0.9, learningRate: 3e-3, steps: 30 },
      { lambda: 0.5, learningRate: 1e-3, steps: 30 },
      { lambda: 0.5, learningRate: 3e-3, steps: 30 },
    ];
const EXTRA_STEPS = quick ? [] : [60];

const meanOf = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const sampleStd = (values: readonly number[]) => {
  if (values.length < 2) return Number.NaN;
  const mean = meanOf(values);
  return Math.sqrt(values.reduce((total, v) => total + (v - mean) ** 2, 0) / (values.length - 1));
};

/** One `fusechat run` of the demo pipeline in `out` (shared teachers and data), capture and alignment reused. */
async function runSetting(
  setting: Setting,
  seed: number,
): Promise<{ results: PipelineResults; runDir: string }> {
  const name = `seed${seed}-${key(setting)}`;
  const files = await writeDemoPipeline(out, {
    ...DATA,
    validation: true,
    lambda: setting.lambda,
    learningRate: setting.learningRate,
    targetSteps: setting.steps,
    seed,
    dataSeed: DATA_SEED,
    runName: `runs/${name}`,
    configName: `pipeline-${name}.yml`,
  });
  // Capture and alignment do not depend on the seed or the training settings: the first run's
  // stages are copied in, and the pipeline reuses them only if their recorded inputs match.
  if (firstRunDir !== undefined && firstRunDir !== files.runDir) {
    for (const stage of ['pipeline.json', 'capture', 'align'])
      await cp(join(firstRunDir, stage), join(files.runDir, stage), {
        recursive: true,
        force: false,
        errorOnExist: false,
      });
  }
  say(`run ${name}`);
  const config = await loadPipelineConfig(files.config);
  const results = await runPipeline(config, {
    log: {
      debug() {},
      info: (m) => say(`  ${m}`),
      warn: (m) => say(`  warning: ${m}`),
      error: (m) => say(`  error: ${m}`),
    },
    backendName: backend.name,
  });
  firstRunDir ??= files.runDir;
  await writeFile(join(out, `${name}.results.json`), JSON.stringify(results));
  return { results, runDir: files.runDir };
}
let firstRunDir: string | undefined;

/** Mean loss of a model over the domains of one set (`validation` or `test`). */
function meanLoss(results: PipelineResults, model: string, set: 'validation' | 'test'): number {
  const rows = results.evaluation.filter(
    (row) => row.model === model && ((row as { set?: string }).set ?? 'test') === set,
  );
  return rows.length === 0 ? Number.NaN : meanOf(rows.map((row) => row.loss));
}
const roleName = (results: PipelineResults, role: string) =>
  results.models.find((m) => m.role === role)!.name;

// ── 1. choose on validation ────────────────────────────────────────────────────────────────
const grid: { setting: Setting; results: PipelineResults; runDir: string }[] = [];
for (const setting of GRID) grid.push({ setting, ...(await runSetting(setting, seeds[0]!)) });
const byFused = (a: (typeof grid)[number], b: (typeof grid)[number]) =>
  meanLoss(a.results, roleName(a.results, 'merged'), 'validation') -
  meanLoss(b.results, roleName(b.results, 'merged'), 'validation');
const bestSoFar = [...grid].sort(byFused)[0]!.setting;
for (const steps of EXTRA_STEPS) {
  const setting = { ...bestSoFar, steps };
  grid.push({ setting, ...(await runSetting(setting, seeds[0]!)) });
}
const fusionSetting = [...grid].sort(byFused)[0]!.setting;
const controlSetting = [...grid].sort(
  (a, b) =>
    meanLoss(a.results, roleName(a.results, 'control'), 'validation') -
    meanLoss(b.results, roleName(b.results, 'control'), 'validation'),
)[0]!.setting;
say(`chosen on validation: fusion ${key(fusionSetting)}, control ${key(controlSetting)}`);

// ── 2. every seed, test split ──────────────────────────────────────────────────────────────
const MERGES: {
  label: string;
  method: string;
  parameters: Record<string, unknown>;
  perModel?: Record<string, unknown>;
}[] = [
  { label: 'linear', method: 'linear', parameters: {}, perModel: { weight: 1 } },
  // λ = 1 with weights 1/n: the mean task vector added to the pivot (as large as any single target's).
  {
    label: 'task arithmetic',
    method: 'task_arithmetic',
    parameters: { lambda: 1 },
    perModel: { weight: 'one-over-n' },
  },
  { label: 'TIES', method: 'ties', parameters: { density: 0.5 }, perModel: { weight: 1 } },
  {
    label: 'DARE',
    method: 'dare_ties',
    parameters: { density: 0.5, normalize: true },
    perModel: { weight: 1 },
  },
  { label: 'SCE', method: 'sce', parameters: { select_topk: 0.5 }, perModel: { weight: 1 } },
];
/** Per seed: model label → domain → test loss. */
const table: Map<string, Map<string, number[]>> = new Map();
const record = (model: string, domain: string, loss: number) => {
  if (!table.has(model)) table.set(model, new Map());
  const byDomain = table.get(model)!;
  byDomain.set(domain, [...(byDomain.get(domain) ?? []), loss]);
};
const testRows = (results: PipelineResults, model: string) =>
  results.evaluation.filter(
    (row) => row.model === model && ((row as { set?: string }).set ?? 'test') === 'test',
  );

for (const seed of seeds) {
  const fusionRun =
    seed === seeds[0]
      ? grid.find((g) => key(g.setting) === key(fusionSetting))!
      : await runSetting(fusionSetting, seed);
  const controlRun =
    key(controlSetting) === key(fusionSetting)
      ? fusionRun
      : seed === seeds[0]
        ? grid.find((g) => key(g.setting) === key(controlSetting))!
        : await runSetting(controlSetting, seed);
  const { results, runDir } = fusionRun;
  for (const model of results.models) {
    if (model.role === 'control') continue;
    const label = model.role === 'merged' ? 'VaRM (merged)' : `${model.name} (${model.role})`;
    for (const row of testRows(results, model.name)) record(label, row.split, row.loss);
  }
  for (const row of testRows(controlRun.results, roleName(controlRun.results, 'control')))
    record('CLM-only control (control)', row.split, row.loss);

  const config = await loadPipelineConfig(join(out, `pipeline-seed${seed}-${key(fusionSetting)}.yml`));
  const targets = results.models.filter((m) => m.role === 'target');
  for (const merge of MERGES) {
    const mergedDir = join(runDir, 'merges', merge.method);
    await mergeModels(
      {
        merge_method: merge.method,
        base_model: config.pivot.model,
        models: targets.map((target) => ({
          model: target.path!,
          parameters: Object.fromEntries(
            Object.entries(merge.perModel ?? {}).map(([name, value]) => [
              name,
              value === 'one-over-n' ? 1 / targets.length : value,
            ]),
          ),
        })),
        parameters: merge.parameters,
        dtype: 'float32',
      },
      { out: mergedDir, overwrite: true },
    );
    const model = await loadModel(mergedDir);
    const tokenizer = await loadTokenizer(mergedDir);
    try {
      for (const split of config.data.test) {
        const dataset = await createChatDataset({
          dataFile: split.path,
          tokenizer,
          batchSize: config.eval.batchSize,
          maxLength: config.eval.maxLength,
        });
        const metrics = await evaluateDataset(
          model,
          dataset,
          { lmLossWeight: 1, distillLossType: 'ce' },
          seed,
        );
        record(merge.label, split.name, metrics.evalClm);
      }
    } finally {
      model.dispose();
    }
    say(`seed ${seed}: ${merge.label} merged and scored`);
  }
}

// ── 3. docs/results.md ─────────────────────────────────────────────────────────────────────
const domains = [...new Set([...table.values()].flatMap((byDomain) => [...byDomain.keys()]))];
const meanLossOf = (label: string, seedIndex: number) =>
  meanOf(domains.map((domain) => table.get(label)!.get(domain)![seedIndex]!));
const cell = (values: readonly number[]) => {
  const perplexities = values.map(Math.exp);
  const std = sampleStd(perplexities);
  return `${meanOf(perplexities).toFixed(1)}${Number.isFinite(std) ? ` ± ${std.toFixed(1)}` : ''}`;
};
const lines: string[] = [];
lines.push(
  `| model | ${domains.map((d) => `${d}`).join(' | ')} | mean loss |`,
  `|---|${domains.map(() => '---:').join('|')}|---:|`,
);
for (const [label, byDomain] of table) {
  const perSeed = seeds.map((_, i) => meanLossOf(label, i));
  lines.push(
    `| ${label} | ${domains.map((d) => cell(byDomain.get(d)!)).join(' | ')} | ${meanOf(perSeed).toFixed(3)} ± ${sampleStd(perSeed).toFixed(3)} |`,
  );
}
const controlLabel = 'CLM-only control (control)';
const verdicts: string[] = [];
const compare = (label: string, baseline: string) => {
  const differences = seeds.map((_, i) => meanLossOf(label, i) - meanLossOf(baseline, i));
  const mean = meanOf(differences);
  const std = sampleStd(differences);
  const wins = differences.filter((d) => d < 0).length;
  const clear = Number.isFinite(std) ? Math.abs(mean) > 2 * (std / Math.sqrt(differences.length)) : false;
  return `${label} − ${baseline}: mean test loss difference ${mean >= 0 ? '+' : '−'}${Math.abs(mean).toFixed(4)} nats (paired over ${seeds.length} seeds, sd ${std.toFixed(4)}; ${label} lower in ${wins} of ${seeds.length}) — ${mean < 0 ? (clear ? 'better, beyond two standard errors' : 'lower, but within two standard errors of the seed spread') : clear ? 'worse, beyond two standard errors' : 'not better; within the seed spread'}`;
};
const mergedLabels = ['VaRM (merged)', ...MERGES.map((m) => m.label)];
for (const label of mergedLabels) verdicts.push(compare(label, controlLabel));
for (const label of [...table.keys()].filter((l) => l.endsWith('(target)'))) {
  verdicts.push(compare(label, controlLabel));
  verdicts.push(compare('VaRM (merged)', label));
}
const seconds = (performance.now() - started) / 1000;
const command = `node --conditions=source --import ./scripts/register-source-hooks.mjs --import tsx scripts/reproduce.ts --seeds ${seeds.join(',')}${quick ? ' --quick' : ''}`;
const markdown = `# Results

The analogue of the FuseChat paper's Table 1 on the demo's committed teachers (a weak generalist
pivot and three domain specialists: see \`scripts/demo-teachers/README.md\`): held-out response
perplexity per domain (test documents; mean ± sample standard deviation over seeds), and the
mean loss over the domains.

- Command: \`${command}\` (\`pnpm reproduce\`)
- Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, backend ${backend.name}${backend.threads === undefined ? '' : ` (${backend.threads} threads)`}, Node ${process.version}
- Time: ${formatDuration(seconds)}; seeds ${seeds.join(', ')} (training seeds; the data are fixed, data seed ${DATA_SEED})
- Data: ${DATA.fusionExamples} fusion conversations per domain; ${DATA.evalExamples} validation and ${DATA.evalExamples} test conversations per domain, from documents held out from every model
- Chosen on validation (grid ${GRID.map(key).join(', ')}${EXTRA_STEPS.length > 0 ? `, then steps ${EXTRA_STEPS.join(', ')} for the best` : ''}): fusion λ ${fusionSetting.lambda}, learning rate ${fusionSetting.learningRate}, ${fusionSetting.steps} steps; control learning rate ${controlSetting.learningRate}, ${controlSetting.steps} steps
- Sources are scored per token of their own vocabulary (the sotu specialist's is Qwen3's): compare their rows with the pivot family only loosely.

${lines.join('\n')}

## Did fusion beat the CLM-only control?

${verdicts.map((v) => `- ${v}`).join('\n')}
`;
await mkdir(resolve(resultsFile, '..'), { recursive: true });
await writeFile(resultsFile, markdown);
say(`wrote ${resultsFile}`);
