import { isAbsolute, resolve } from 'node:path';
import { closestName, FileFormatError, InvalidInputError } from '@fusechat/core';
import { builtinFusionFunctions } from '@fusechat/distillation-loss';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { TrainingOptions } from '../training-options.js';
import { loraConfigSchema, type TrainConfigInput, trainConfigSchema } from './train-config-schema.js';

/** Where the examples of a run come from, with the batching options of its dataset. */
export type TrainDatasetConfig =
  | {
      /** Fusion training: the pivot store joined with aligned source stores (`createFusionDataset`). */
      readonly kind: 'fusion';
      readonly pivotStore: string;
      readonly alignedStores: readonly string[];
      /** Fusion function name (`min_ce`, `avg_ce`, or one of `options.fusionNames`). */
      readonly fusion: string;
      /** `distill_temperature`. */
      readonly temperature: number;
      readonly batchSize: number;
      readonly batchTokens: number | undefined;
      readonly maxLength: number | undefined;
    }
  | {
      /** Plain CLM over chat JSONL (`createChatDataset`). */
      readonly kind: 'chat';
      readonly dataFile: string;
      readonly chatTemplate: string | undefined;
      readonly batchSize: number;
      readonly batchTokens: number | undefined;
      readonly maxLength: number | undefined;
    };

/** A validated `fusechat train` config, mapped onto the package's option objects. */
export interface TrainConfig {
  /** The model to fine-tune (pivot directory), resolved against `baseDir`. */
  readonly modelNameOrPath: string;
  readonly outputDir: string;
  readonly dataset: TrainDatasetConfig;
  readonly evalDataset: TrainDatasetConfig | undefined;
  /** The loop's options (HF `TrainingArguments` camelCased). */
  readonly training: TrainingOptions;
  /** `train`'s `resume`: `auto` (default), `never`, or a checkpoint directory. */
  readonly resume: 'auto' | 'never' | string;
  /** Settings that are valid but have no effect here (e.g. `lm_loss_weight` for plain CLM). */
  readonly warnings: readonly string[];
  /** The config as written (after validation). */
  readonly input: TrainConfigInput;
}

/** One problem of a config: its dotted path, what is wrong, and its line when parsed from YAML. */
export interface TrainConfigProblem {
  readonly path: string;
  readonly message: string;
  readonly line?: number | undefined;
}

/** Options of {@link parseTrainConfig}. */
export interface ParseTrainConfigOptions {
  /** Relative paths in the config are resolved against this directory (the config file's). */
  readonly baseDir?: string | undefined;
  /** Fusion function names `fusion:` may use (default: the built-ins, `min_ce` and `avg_ce`). */
  readonly fusionNames?: readonly string[] | undefined;
  /** Name of the config in messages (the file path). */
  readonly source?: string | undefined;
}

/** HF learning rate default. */
const DEFAULT_LEARNING_RATE = 5e-5;
/** HF `per_device_train_batch_size` default. */
const DEFAULT_BATCH_SIZE = 8;
const DEFAULT_LORA_TARGETS = ['q_proj', 'v_proj'] as const;

/** Keys people write from habit (other tools' names) → what to write here. */
const ALIASES: Readonly<Record<string, string>> = {
  lr: 'learning_rate',
  batch_size: 'per_device_train_batch_size',
  train_batch_size: 'per_device_train_batch_size',
  eval_batch_size: 'per_device_eval_batch_size',
  epochs: 'num_train_epochs',
  num_epochs: 'num_train_epochs',
  model: 'model_name_or_path',
  model_path: 'model_name_or_path',
  output: 'output_dir',
  max_seq_length: 'model_max_length',
  max_length: 'model_max_length',
  temperature: 'distill_temperature',
  lambda: 'lm_loss_weight',
  fusion_function: 'fusion',
  fusion_type: 'fusion',
  lora_r: 'lora.r',
  lora_alpha: 'lora.alpha',
  lora_target_modules: 'lora.target_modules',
  data_file: 'train_file',
  warmup: 'warmup_ratio or warmup_steps',
  scheduler: 'lr_scheduler_type',
  grad_clip: 'max_grad_norm',
};

/** `TrainingArguments` fields that exist in HF but mean nothing (or are not supported) here. */
const UNSUPPORTED_HF_KEYS: Readonly<Record<string, string>> = {
  fp16: 'the tensor backend picks the precision (fusechat trains in float32)',
  bf16: 'the tensor backend picks the precision (fusechat trains in float32)',
  tf32: 'the tensor backend picks the precision',
  gradient_checkpointing: 'not supported',
  deepspeed: 'not supported (single process)',
  fsdp: 'not supported (single process)',
  optim: 'fusechat train uses AdamW (torch.optim.AdamW semantics)',
  report_to: 'metrics go to <output_dir>/metrics.jsonl',
  logging_dir: 'metrics go to <output_dir>/metrics.jsonl',
  push_to_hub: 'not supported',
  dataloader_num_workers: 'not needed (datasets are random-access)',
  eval_strategy: 'set eval_steps (fusechat evaluates every eval_steps optimizer steps and at the end)',
  evaluation_strategy: 'set eval_steps (fusechat evaluates every eval_steps optimizer steps and at the end)',
  save_strategy: 'set save_steps',
  logging_strategy: 'set logging_steps',
  lora_dropout: 'LoRA dropout is not supported',
};

const NESTED_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(trainConfigSchema.shape),
  lora: Object.keys(loraConfigSchema.shape),
};

/**
 * Validates a `fusechat train` config — YAML text or the parsed mapping — and maps it onto
 * {@link TrainingOptions} and dataset options. Every problem is reported at once, each with its
 * dotted path (and line, for YAML text): unknown keys (with "did you mean"), wrong types,
 * impossible values (`learning_rate < 0`, `gradient_accumulation_steps: 0`,
 * `warmup_steps > max_steps`, …) and contradictions (`train_file` and `pivot_store` both given).
 * Throws an `InvalidInputError` with code `TRAIN_CONFIG_INVALID` and `details.problems`
 * ({@link TrainConfigProblem}[]); YAML syntax errors are `FileFormatError` `TRAIN_CONFIG_YAML`.
 *
 * @example
 * ```ts
 * const config = parseTrainConfig(`
 * model_name_or_path: models/pivot
 * pivot_store: capture/pivot
 * aligned_stores: [align/mistral]
 * output_dir: train/mistral
 * learning_rate: 2e-5
 * lm_loss_weight: 0.9
 * `, { baseDir: process.cwd() });
 * config.training.learningRate; // 2e-5
 * config.dataset.kind;          // 'fusion'
 * ```
 */
export function parseTrainConfig(
  input: string | unknown,
  options: ParseTrainConfigOptions = {},
): TrainConfig {
  const source = options.source ?? 'train config';
  let raw: unknown = input;
  let lineOf: (path: readonly PropertyKey[]) => number | undefined = () => undefined;
  if (typeof input === 'string') {
    const lineCounter = new LineCounter();
    const document = parseDocument(input, { lineCounter, prettyErrors: false });
    if (document.errors.length > 0) {
      const first = document.errors[0]!;
      const line = lineCounter.linePos(first.pos[0]).line;
      throw new FileFormatError('TRAIN_CONFIG_YAML', `${source}:${line}: not valid YAML: ${first.message}`, {
        path: options.source,
        cause: first,
        details: { line },
      });
    }
    raw = document.toJS();
    lineOf = (path) => {
      const offset = keyOffset(document.contents, path);
      return offset === undefined ? undefined : lineCounter.linePos(offset).line;
    };
  }
  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidInputError(
      `${source} must be a mapping (model_name_or_path:, output_dir:, pivot_store: or train_file:, …), got ${
        raw === null || raw === undefined ? 'nothing' : Array.isArray(raw) ? 'a list' : typeof raw
      }.`,
      { code: 'TRAIN_CONFIG_INVALID', details: { problems: [] } },
    );
  }

  const problems: TrainConfigProblem[] = [];
  const problem = (path: readonly PropertyKey[], message: string) =>
    problems.push({ path: dottedPath(path), message, line: lineOf(path) });

  const result = trainConfigSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problem([...issue.path, key], unknownKeyMessage(key, issue.path));
      } else {
        problem(issue.path, issueMessage(issue, valueAt(raw, issue.path)));
      }
    }
  }
  // Cross-field rules run on whatever parsed, so one pass reports everything.
  const config = (result.success ? result.data : raw) as Partial<TrainConfigInput>;
  const warnings: string[] = [];
  const has = (key: keyof TrainConfigInput) => config[key] !== undefined && fieldIsValid(result, key);

  if (config.train_file !== undefined && config.pivot_store !== undefined) {
    problem(['train_file'], 'give either train_file (plain CLM) or pivot_store (fusion training), not both');
  } else if (config.train_file === undefined && config.pivot_store === undefined) {
    problem(
      ['pivot_store'],
      'no training data: give pivot_store (and aligned_stores) for fusion training, or train_file for plain CLM',
    );
  }
  if (config.aligned_stores !== undefined && config.pivot_store === undefined) {
    problem(['aligned_stores'], 'aligned stores need the pivot_store they were aligned onto');
  }
  if (config.eval_file !== undefined && config.eval_pivot_store !== undefined) {
    problem(['eval_file'], 'give either eval_file or eval_pivot_store, not both');
  }
  if (config.eval_aligned_stores !== undefined && config.eval_pivot_store === undefined) {
    problem(['eval_aligned_stores'], 'eval aligned stores need the eval_pivot_store they were aligned onto');
  }
  for (const key of ['aligned_stores', 'eval_aligned_stores'] as const) {
    const list = config[key];
    if (!Array.isArray(list)) continue;
    const pivot = key === 'aligned_stores' ? config.pivot_store : config.eval_pivot_store;
    list.forEach((store, index) => {
      if (list.indexOf(store) !== index) problem([key, index], `"${store}" is listed twice`);
      if (store === pivot)
        problem([key, index], `"${store}" is the pivot store itself, not a source aligned onto it`);
    });
  }
  const hasEval = config.eval_file !== undefined || config.eval_pivot_store !== undefined;
  if (!hasEval) {
    if (config.eval_steps !== undefined)
      problem(['eval_steps'], 'there is no eval data: add eval_file or eval_pivot_store');
    if (config.early_stopping_patience !== undefined) {
      problem(
        ['early_stopping_patience'],
        'early stopping watches the eval loss: add eval_file or eval_pivot_store',
      );
    }
    if (config.per_device_eval_batch_size !== undefined) {
      warnings.push('per_device_eval_batch_size has no effect without eval data');
    }
  }
  if (config.early_stopping_threshold !== undefined && config.early_stopping_patience === undefined) {
    problem(['early_stopping_threshold'], 'needs early_stopping_patience');
  }
  const maxSteps = has('max_steps') && config.max_steps !== -1 ? config.max_steps : undefined;
  if (has('warmup_steps') && maxSteps !== undefined && config.warmup_steps! > maxSteps) {
    problem(['warmup_steps'], `${config.warmup_steps} warmup steps exceed max_steps (${maxSteps})`);
  }
  if (has('fusion')) {
    const known = options.fusionNames ?? Object.keys(builtinFusionFunctions);
    if (!known.includes(config.fusion!)) {
      const suggestion = closestName(config.fusion!, known);
      problem(
        ['fusion'],
        `unknown fusion function "${config.fusion}"${suggestion ? `; did you mean "${suggestion}"?` : ''} (known: ${known.join(', ')})`,
      );
    }
  }
  if (config.train_file !== undefined && config.pivot_store === undefined) {
    for (const key of ['lm_loss_weight', 'fusion', 'distill_temperature', 'distill_loss_type'] as const) {
      if (config[key] !== undefined) warnings.push(`${key} has no effect on plain CLM training (train_file)`);
    }
  }
  if (
    config.chat_template !== undefined &&
    config.train_file === undefined &&
    config.eval_file === undefined
  ) {
    warnings.push(
      'chat_template has no effect: stores are rendered already (it applies to train_file and eval_file)',
    );
  }
  if (maxSteps !== undefined && config.num_train_epochs !== undefined) {
    warnings.push('num_train_epochs has no effect: max_steps is set');
  }
  if (config.warmup_steps !== undefined && config.warmup_ratio !== undefined) {
    warnings.push('warmup_ratio has no effect: warmup_steps is set');
  }

  if (problems.length > 0 || !result.success) throw configError(source, problems);
  const data = result.data;
  const at = (path: string) =>
    options.baseDir === undefined || isAbsolute(path) ? path : resolve(options.baseDir, path);

  const batchSize = data.per_device_train_batch_size ?? DEFAULT_BATCH_SIZE;
  const common = { batchTokens: data.batch_tokens, maxLength: data.model_max_length };
  const fusion = data.fusion ?? 'min_ce';
  const temperature = data.distill_temperature ?? 1;
  const datasetFrom = (
    pivotStore: string | undefined,
    alignedStores: readonly string[] | undefined,
    dataFile: string | undefined,
    size: number,
  ): TrainDatasetConfig =>
    pivotStore !== undefined
      ? {
          kind: 'fusion',
          pivotStore: at(pivotStore),
          alignedStores: (alignedStores ?? []).map(at),
          fusion,
          temperature,
          batchSize: size,
          ...common,
        }
      : {
          kind: 'chat',
          dataFile: at(dataFile!),
          chatTemplate: data.chat_template === undefined ? undefined : at(data.chat_template),
          batchSize: size,
          ...common,
        };

  const training: TrainingOptions = definedOnly({
    learningRate: data.learning_rate ?? DEFAULT_LEARNING_RATE,
    weightDecay: data.weight_decay,
    adamBeta1: data.adam_beta1,
    adamBeta2: data.adam_beta2,
    adamEpsilon: data.adam_epsilon,
    maxSteps,
    numTrainEpochs: data.num_train_epochs,
    gradientAccumulationSteps: data.gradient_accumulation_steps,
    warmupRatio: data.warmup_ratio,
    warmupSteps: data.warmup_steps,
    lrSchedulerType: data.lr_scheduler_type,
    maxGradNorm: data.max_grad_norm,
    loggingSteps: data.logging_steps,
    evalSteps: data.eval_steps,
    saveSteps: data.save_steps,
    saveTotalLimit: data.save_total_limit ?? undefined,
    seed: data.seed,
    lmLossWeight: data.lm_loss_weight,
    distillLossType: data.distill_loss_type,
    lora:
      data.lora === undefined
        ? undefined
        : {
            r: data.lora.r,
            alpha: data.lora.alpha ?? data.lora.r,
            targetModules: data.lora.target_modules ?? [...DEFAULT_LORA_TARGETS],
          },
    nonFinite: data.non_finite,
    earlyStopping:
      data.early_stopping_patience === undefined
        ? undefined
        : { patience: data.early_stopping_patience, threshold: data.early_stopping_threshold ?? 0 },
  });

  return {
    modelNameOrPath: at(data.model_name_or_path),
    outputDir: at(data.output_dir),
    dataset: datasetFrom(data.pivot_store, data.aligned_stores, data.train_file, batchSize),
    evalDataset: hasEval
      ? datasetFrom(
          data.eval_pivot_store,
          data.eval_aligned_stores,
          data.eval_file,
          data.per_device_eval_batch_size ?? batchSize,
        )
      : undefined,
    training,
    resume:
      data.resume_from_checkpoint === undefined || data.resume_from_checkpoint === true
        ? 'auto'
        : data.resume_from_checkpoint === false
          ? 'never'
          : at(data.resume_from_checkpoint),
    warnings,
    input: data,
  };
}

function configError(source: string, unordered: readonly TrainConfigProblem[]): InvalidInputError {
  // In file order when lines are known (a stable sort keeps the schema's order otherwise).
  const problems = [...unordered].sort(
    (a, b) => (a.line ?? Number.POSITIVE_INFINITY) - (b.line ?? Number.POSITIVE_INFINITY),
  );
  const lines = problems.map(
    (entry) => `${entry.path}${entry.line === undefined ? '' : ` (line ${entry.line})`}: ${entry.message}`,
  );
  return new InvalidInputError(
    `Invalid ${source} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${lines.join('\n  - ')}`,
    { code: 'TRAIN_CONFIG_INVALID', field: problems[0]?.path, details: { problems } },
  );
}

function unknownKeyMessage(key: string, parent: readonly PropertyKey[]): string {
  const parentPath = parent.map(String).join('.');
  if (parentPath === '' && key in UNSUPPORTED_HF_KEYS) {
    return `unknown key (a TrainingArguments option fusechat train does not take: ${UNSUPPORTED_HF_KEYS[key]}); remove it`;
  }
  const alias = parentPath === '' ? ALIASES[key] : undefined;
  const suggestion = alias ?? closestName(key, NESTED_KEYS[parentPath] ?? []);
  return `unknown key${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
}

function issueMessage(issue: z.core.$ZodIssue, value: unknown): string {
  const got = value === undefined ? '' : `, got ${JSON.stringify(value)}`;
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return 'required';
      if (issue.expected === 'int') return `must be a whole number${got}`;
      return `must be ${article(issue.expected)}${got}`;
    case 'too_small':
      if (issue.origin === 'string' || issue.origin === 'array')
        return issue.message.startsWith('Too') ? 'must not be empty' : issue.message;
      return `must be ${issue.inclusive ? '≥' : '>'} ${issue.minimum}${got}`;
    case 'too_big':
      return `must be ${issue.inclusive ? '≤' : '<'} ${issue.maximum}${got}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((entry) => JSON.stringify(entry)).join(', ')}${got}${
        typeof value === 'string'
          ? suggestionSuffix(
              value,
              issue.values.filter((entry): entry is string => typeof entry === 'string'),
            )
          : ''
      }`;
    case 'invalid_union': {
      const expected = issue.errors
        .map((branch) => branch[0])
        .filter((first): first is z.core.$ZodIssueInvalidType => first?.code === 'invalid_type')
        .map((first) => first.expected);
      return expected.length > 0 ? `must be ${expected.map(article).join(' or ')}${got}` : `invalid${got}`;
    }
    default:
      return `${issue.message}${got}`;
  }
}

function suggestionSuffix(value: string, known: readonly string[]): string {
  // Enum values are short: only a near miss ("cosin") is a typo worth naming.
  const suggestion = closestName(value, known, Math.max(1, Math.floor(value.length / 3)));
  return suggestion ? `; did you mean "${suggestion}"?` : '';
}

function article(type: string): string {
  if (type === 'array') return 'a list';
  if (type === 'object') return 'a mapping';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function dottedPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const segment of path) {
    text += typeof segment === 'number' ? `[${segment}]` : `${text === '' ? '' : '.'}${String(segment)}`;
  }
  return text === '' ? '(config)' : text;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return value;
}

function fieldIsValid(result: { success: boolean; error?: z.ZodError }, key: string): boolean {
  return result.success || !result.error!.issues.some((issue) => issue.path[0] === key);
}

/** Offset of the key (or list item) at `path` in the YAML source. */
function keyOffset(
  node: Node | null | undefined | unknown,
  path: readonly PropertyKey[],
): number | undefined {
  let current = node as Node | null | undefined;
  let offset: number | undefined = (current as { range?: [number] } | null | undefined)?.range?.[0];
  for (const segment of path) {
    if (isMap(current)) {
      const pair = current.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (!pair) return offset;
      offset = (pair.key as Node).range?.[0] ?? offset;
      current = pair.value as Node | null;
    } else if (isSeq(current) && typeof segment === 'number') {
      const item = current.items[segment] as Node | undefined;
      if (!item) return offset;
      offset = item.range?.[0] ?? offset;
      current = item;
    } else {
      return offset;
    }
  }
  return offset;
}

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;
}
