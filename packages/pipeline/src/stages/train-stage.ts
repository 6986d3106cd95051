import { copyFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore } from '@fusechat/distribution-store';
import { loadModel, readModelConfig, TOKENIZER_FILES } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { createConfigDatasets, parseTrainConfig, type TrainConfigInput, train } from '@fusechat/training';
import type { ResolvedSource } from '../config/resolved-pipeline-config.js';
import { CONTROL_NAME } from '../run-directory/run-layout.js';
import { runStage, type StageOutcome } from './run-stage.js';
import { type PipelineContext, stageProgress } from './stage-context.js';

/** What the train stage records in its `stage.json`. */
export interface TrainStageSummary extends Record<string, unknown> {
  readonly steps: number;
  readonly resumedFrom: number | null;
  readonly finalLoss: number | null;
  readonly tokensPerSecond: number;
  /** Data-parallel replicas the steps ran on (`RunPipelineOptions.trainingWorkers`). */
  readonly workers: number;
  /** Targets only: examples of the pivot store and how many the source's distribution won (lower CE). */
  readonly fusion?: { readonly examples: number; readonly sourceWins: number } | undefined;
}

/** Train-config keys that only mean something for fusion training. */
const FUSION_KEYS = ['lm_loss_weight', 'fusion', 'distill_temperature', 'distill_loss_type'] as const;

/**
 * `train/<source>`: the pivot fine-tuned with `λ·CLM + (1−λ)·fusion` over the pivot store and the
 * source's aligned store (`createFusionDataset` via the train config, then `train`); or, for
 * `train/control` (`source` undefined), the CLM-only control: the pivot on the same chat data
 * with the same optimisation settings and steps (λ = 1). Resumes from the latest checkpoint in
 * its directory. The final model gets the pivot's tokenizer files.
 */
export async function trainStage(
  context: PipelineContext,
  source: ResolvedSource | undefined,
  upstream: {
    readonly pivotModel: string;
    readonly pivotCapture?: string;
    readonly align?: string;
    readonly data?: string;
  },
): Promise<StageOutcome<TrainStageSummary>> {
  const { config, layout } = context;
  const name = source?.name ?? CONTROL_NAME;
  const paths = layout.train[name]!;
  const pivotStore = layout.capture[config.pivot.name]!.store;
  const optimisation: Record<string, unknown> = { ...config.training.trainConfig };
  let input: TrainConfigInput;
  if (source === undefined) {
    for (const key of FUSION_KEYS) delete optimisation[key];
    input = {
      ...optimisation,
      model_name_or_path: config.pivot.model,
      output_dir: paths.outputDir,
      train_file: config.data.train,
      ...(config.pivot.chatTemplate === undefined ? {} : { chat_template: config.pivot.chatTemplate }),
    };
  } else {
    input = {
      ...optimisation,
      model_name_or_path: config.pivot.model,
      output_dir: paths.outputDir,
      pivot_store: pivotStore,
      aligned_stores: [layout.align[source.name]!.store],
    };
  }
  const {
    model_name_or_path: _m,
    output_dir: _o,
    pivot_store: _p,
    aligned_stores: _a,
    train_file: _t,
    chat_template: _c,
    ...stageConfig
  } = input;
  return runStage(context, {
    id: paths.id,
    kind: 'train',
    dir: paths.dir,
    inputs: definedOnly(upstream),
    config: stageConfig,
    run: async (log) => {
      const trainConfig = parseTrainConfig(input, { source: `${paths.id} train config` });
      const { config: modelConfig } = await readModelConfig(config.pivot.model);
      const tokenizer = await loadTokenizer(config.pivot.model);
      const maxLength = trainConfig.dataset.maxLength ?? modelConfig.maxPositionEmbeddings;
      const datasets = await createConfigDatasets(
        { dataset: { ...trainConfig.dataset, maxLength }, evalDataset: undefined },
        { tokenizer },
      );
      try {
        const model = await loadModel(config.pivot.model);
        let result: Awaited<ReturnType<typeof train>>;
        try {
          result = await train({
            model,
            dataset: datasets.dataset,
            training: trainConfig.training,
            outputDir: trainConfig.outputDir,
            resume: 'auto',
            onProgress: stageProgress(context, paths.id),
            logger: log,
            signal: context.signal,
            workers: context.trainingWorkers,
          });
        } finally {
          model.dispose();
        }
        await copyTokenizerFiles(config.pivot.model, result.modelDir);
        log.info(
          `${result.steps} steps${result.resumedFrom === undefined ? '' : ` (resumed at step ${result.resumedFrom})`}, final loss ${result.finalLoss?.toFixed(4) ?? '—'}`,
        );
        return {
          steps: result.steps,
          resumedFrom: result.resumedFrom ?? null,
          finalLoss: result.finalLoss ?? null,
          tokensPerSecond: result.tokensPerSecond,
          workers: result.workers,
          ...(source === undefined
            ? {}
            : { fusion: await sourceWins(pivotStore, layout.align[source.name]!.store) }),
        };
      } finally {
        await datasets.close();
      }
    },
  });
}

/**
 * Per example, whether the source's distribution has the lower mean response CE than the
 * pivot's — the teacher MinCE fuses towards (ties and NaN go to the pivot, as MinCE's).
 */
async function sourceWins(
  pivotPath: string,
  alignedPath: string,
): Promise<{ examples: number; sourceWins: number }> {
  const pivot = await openStore(pivotPath, { requireComplete: true });
  const aligned = await openStore(alignedPath, { requireComplete: true });
  try {
    let examples = 0;
    let wins = 0;
    for await (const record of pivot) {
      examples++;
      const other = await aligned.getById(record.id);
      const pivotCe = Number.isNaN(record.ce) ? Number.POSITIVE_INFINITY : record.ce;
      if (other !== undefined && !Number.isNaN(other.ce) && other.ce < pivotCe) wins++;
    }
    return { examples, sourceWins: examples === 0 ? 0 : wins / examples };
  } finally {
    await Promise.all([pivot.close(), aligned.close()]);
  }
}

/** The trained model gets the tokenizer files of the pivot, so eval, generate and serve load it as is. */
async function copyTokenizerFiles(from: string, to: string): Promise<void> {
  for (const file of TOKENIZER_FILES) {
    const isFile = await stat(join(from, file)).then(
      (entry) => entry.isFile(),
      () => false,
    );
    if (isFile) await copyFile(join(from, file), join(to, file));
  }
}

function definedOnly(value: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Record<
    string,
    string
  >;
}
