import { isAbsolute, resolve } from 'node:path';
import { closestName, FileFormatError } from '@fusechat/core';
import { builtinFusionFunctions } from '@fusechat/distillation-loss';
import { builtinMergeMethods, createMergeRegistry, type MergeRegistry } from '@fusechat/merge';
import { builtinVocabularyMappers } from '@fusechat/tokenizer-alignment';
import { parseTrainConfig } from '@fusechat/training';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { PipelineConfigError } from './pipeline-config-error.js';
import {
  type PipelineConfigInput,
  pipelineConfigSchema,
  trainingConfigSchema,
} from './pipeline-config-schema.js';
import type {
  ResolvedLocalModel,
  ResolvedPipelineConfig,
  ResolvedSource,
} from './resolved-pipeline-config.js';

/** Options of {@link parsePipelineConfig}. */
export interface ParsePipelineConfigOptions {
  /** Relative paths are resolved against this directory (the config file's; default the cwd). */
  readonly baseDir?: string | undefined;
  /** The config file, for messages and `configPath`. */
  readonly source?: string | undefined;
  /** Merge methods `merge.method` may name (default the built-ins). */
  readonly mergeRegistry?: MergeRegistry | undefined;
  /** Fusion function names `training.fusion` may use (default the built-ins). */
  readonly fusionNames?: readonly string[] | undefined;
  /** Vocabulary mapping names `sources[].mapping` may use (default the built-ins). */
  readonly mappingNames?: readonly string[] | undefined;
}

/** What {@link analysePipelineConfig} found: the resolved config when the shape is valid, and every problem. */
export interface PipelineConfigAnalysis {
  readonly config: ResolvedPipelineConfig | undefined;
  readonly problems: string[];
  /** The same problems unformatted (path segments), to be listed with more. */
  readonly issues: readonly { path: readonly PropertyKey[]; message: string }[];
  /** The parsed mapping as written (for checks of files the config names). */
  readonly raw: unknown;
  /** Line of a dotted path's key in the YAML text (undefined for objects or unknown paths). */
  readonly lineOf: (path: readonly PropertyKey[]) => number | undefined;
}

const DEFAULT_SEED = 42;
const DEFAULT_TOP_K = 10;
const DEFAULT_BATCH_TOKENS = 4096;
const DEFAULT_MAX_NEW_TOKENS = 24;
const DEFAULT_EVAL_BATCH_SIZE = 8;
const DEFAULT_MERGE_METHOD = 'variation_ratio';
const DEFAULT_MAPPING = 'min-edit-distance';
const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+(@[\w./-]+)?$/;

/**
 * Validates a pipeline config — YAML text or the parsed mapping — and resolves it: paths
 * against `baseDir`, defaults filled in, the merge method and fusion function normalised to
 * their registry names (`variation-ratio` → `variation_ratio`). Every problem the config shows
 * by itself is reported at once (unknown keys with "did you mean", types, duplicate names, a
 * remote source without `model_name`/`tokenizer`, unknown merge method / mapping / fusion,
 * per-target merge parameters for a source that does not exist, invalid training keys) in one
 * {@link PipelineConfigError}. Files are not looked at: `loadPipelineConfig` does that.
 *
 * @example
 * ```ts
 * const config = parsePipelineConfig(`
 * name: demo
 * pivot: { model: models/pivot }
 * sources: [{ name: moby, model: models/moby }]
 * data: { train: data/train.jsonl }
 * `, { baseDir: '/work' });
 * config.runDir; // '/work/demo.run'
 * ```
 */
export function parsePipelineConfig(
  input: string | unknown,
  options: ParsePipelineConfigOptions = {},
): ResolvedPipelineConfig {
  const analysis = analysePipelineConfig(input, options);
  if (analysis.problems.length > 0 || analysis.config === undefined) {
    throw new PipelineConfigError(analysis.problems, { path: options.source });
  }
  return analysis.config;
}

/** {@link parsePipelineConfig} without throwing: the problems and, when the shape is valid, the config. */
export function analysePipelineConfig(
  input: string | unknown,
  options: ParsePipelineConfigOptions = {},
): PipelineConfigAnalysis {
  const baseDir = resolve(options.baseDir ?? process.cwd());
  let raw: unknown = input;
  let lineOf: (path: readonly PropertyKey[]) => number | undefined = () => undefined;
  if (typeof input === 'string') {
    const lineCounter = new LineCounter();
    const document = parseDocument(input, { lineCounter, prettyErrors: false });
    if (document.errors.length > 0) {
      const first = document.errors[0]!;
      const line = lineCounter.linePos(first.pos[0]).line;
      throw new FileFormatError(
        'PIPELINE_CONFIG_YAML',
        `${options.source ?? 'pipeline config'} is not valid YAML (line ${line}): ${first.message.split('\n')[0]}`,
        { path: options.source, cause: first, details: { line } },
      );
    }
    raw = document.toJS();
    lineOf = (path) => {
      const offset = keyOffset(document.contents, path);
      return offset === undefined ? undefined : lineCounter.linePos(offset).line;
    };
  }
  const problems: { path: readonly PropertyKey[]; message: string }[] = [];
  const add = (path: readonly PropertyKey[], message: string) => problems.push({ path, message });
  const result = pipelineConfigSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) add([...issue.path, key], unknownKeyMessage(key, issue.path));
      } else {
        add(issue.path, issueMessage(issue, valueAt(raw, issue.path)));
      }
    }
  }
  // Cross-field rules on whatever parts are readable, so they are listed with the schema problems.
  const written = (raw ?? {}) as Partial<Record<string, unknown>>;
  const sources = Array.isArray(written.sources) ? (written.sources as Record<string, unknown>[]) : [];
  const pivot = (written.pivot ?? {}) as Record<string, unknown>;
  const pivotName = typeof pivot.name === 'string' ? pivot.name : 'pivot';
  const seen = new Map<string, number>();
  const mappingNames = options.mappingNames ?? Object.keys(builtinVocabularyMappers);
  sources.forEach((source, index) => {
    if (source === null || typeof source !== 'object') return;
    const at = (key: string) => ['sources', index, key];
    if (typeof source.name === 'string') {
      const earlier = seen.get(source.name);
      if (earlier !== undefined) {
        add(
          at('name'),
          `"${source.name}" is also the name of sources[${earlier}]; every source needs its own name`,
        );
      } else seen.set(source.name, index);
      if (source.name === pivotName)
        add(at('name'), `"${source.name}" is the pivot's name; a source needs another name`);
      if (source.name === 'control')
        add(at('name'), '"control" is reserved (train/control is the CLM-only control)');
    }
    const local = source.model !== undefined;
    const remote = source.endpoint !== undefined;
    if (local && remote)
      add(at('endpoint'), 'give either model (a local model) or endpoint (an inference server), not both');
    if (!local && !remote)
      add(
        at('model'),
        'required: model (a local model directory or id) or endpoint + model_name + tokenizer (an inference server)',
      );
    if (remote) {
      if (source.model_name === undefined)
        add(at('model_name'), 'required with endpoint (the served model name)');
      if (source.tokenizer === undefined)
        add(at('tokenizer'), "required with endpoint (the served model's tokenizer files)");
    } else {
      for (const key of ['model_name', 'tokenizer', 'dialect', 'api_key_env', 'concurrency']) {
        if (source[key] !== undefined) add(at(key), 'goes with endpoint (a remote source), not model');
      }
    }
    if (typeof source.mapping === 'string' && !mappingNames.includes(source.mapping)) {
      add(at('mapping'), unknownName('vocabulary mapping', source.mapping, mappingNames));
    }
  });

  const registry = options.mergeRegistry ?? createMergeRegistry(builtinMergeMethods);
  const merge = (written.merge ?? {}) as Record<string, unknown>;
  const method = typeof merge.method === 'string' ? merge.method.replaceAll('-', '_') : DEFAULT_MERGE_METHOD;
  if (!registry.names().includes(method)) {
    add(['merge', 'method'], unknownName('merge method', String(merge.method), registry.names()));
  } else {
    const known = registry.get(method);
    const globals = new Set([...Object.keys(known.parameters), ...Object.keys(known.perModelParameters)]);
    for (const key of Object.keys((merge.parameters ?? {}) as object)) {
      if (!globals.has(key))
        add(['merge', 'parameters', key], unknownName(`${method} parameter`, key, [...globals]));
    }
    const perModel = Object.keys(known.perModelParameters);
    for (const [target, parameters] of Object.entries((merge.models ?? {}) as Record<string, unknown>)) {
      if (!seen.has(target))
        add(['merge', 'models', target], unknownName('source', target, [...seen.keys()]));
      for (const key of Object.keys((parameters ?? {}) as object)) {
        if (!perModel.includes(key))
          add(['merge', 'models', target, key], unknownName(`${method} per-model parameter`, key, perModel));
      }
    }
  }

  const training = (written.training ?? {}) as Record<string, unknown>;
  const fusionNames = options.fusionNames ?? Object.keys(builtinFusionFunctions);
  const fusion = typeof training.fusion === 'string' ? training.fusion.replaceAll('-', '_') : 'min_ce';
  if (typeof training.fusion === 'string' && !fusionNames.includes(fusion)) {
    add(
      ['training', 'fusion'],
      unknownName(
        'fusion function',
        training.fusion,
        fusionNames.map((name) => name.replaceAll('_', '-')),
      ),
    );
  }

  // The training keys are checked by the train config's own rules (warmup ≤ max_steps, …), on
  // the keys that are valid here so its problems are listed beside the schema's.
  const trainingKeys = Object.keys(trainingConfigSchema.shape);
  const writtenTraining = Object.fromEntries(
    Object.entries(training).filter(([key]) => trainingKeys.includes(key) && key !== 'control'),
  ) as NonNullable<PipelineConfigInput['training']>;
  const trainConfig = toTrainConfig(
    writtenTraining,
    fusion,
    typeof written.seed === 'number' ? written.seed : DEFAULT_SEED,
  );
  try {
    parseTrainConfig(
      { ...trainConfig, model_name_or_path: 'pivot', output_dir: 'out', pivot_store: 'store' },
      { fusionNames },
    );
  } catch (error) {
    const nested = (error as { details?: { problems?: { path: string; message: string }[] } }).details
      ?.problems;
    for (const problem of nested ?? [{ path: '(config)', message: (error as Error).message }]) {
      const key = TRAIN_KEYS_HERE[problem.path] ?? problem.path;
      const path = ['training', ...key.split('.')];
      if (key === 'fusion' || problems.some((entry) => dottedPath(entry.path) === dottedPath(path))) continue;
      add(path, problem.message);
    }
  }

  if (!result.success || problems.length > 0)
    return { config: undefined, problems: formatProblems(problems, lineOf), issues: problems, raw, lineOf };

  const data = result.data;
  const at = (path: string) => (isAbsolute(path) ? path : resolve(baseDir, path));
  // A Hugging Face id is kept as a path here; loadPipelineConfig resolves it when no such path exists.
  const modelAt = (reference: string) => ({ local: at(reference) });
  const pivotModel: ResolvedLocalModel = {
    kind: 'local',
    name: data.pivot.name ?? 'pivot',
    model: modelAt(data.pivot.model).local,
    reference: data.pivot.model,
    chatTemplate: data.pivot.chat_template === undefined ? undefined : at(data.pivot.chat_template),
  };
  const resolvedSources: ResolvedSource[] = data.sources.map((source) => {
    const common = {
      name: source.name,
      mapping: source.mapping ?? DEFAULT_MAPPING,
      chatTemplate: source.chat_template === undefined ? undefined : at(source.chat_template),
    };
    return source.endpoint !== undefined
      ? {
          ...common,
          kind: 'remote' as const,
          endpoint: source.endpoint,
          modelName: source.model_name!,
          tokenizer: at(source.tokenizer!),
          dialect: source.dialect ?? 'vllm',
          apiKeyEnv: source.api_key_env,
          concurrency: source.concurrency ?? 8,
        }
      : { ...common, kind: 'local' as const, model: modelAt(source.model!).local, reference: source.model! };
  });

  const capture = data.capture ?? {};
  const config: ResolvedPipelineConfig = {
    name: data.name,
    configPath: options.source === undefined ? undefined : resolve(options.source),
    baseDir,
    runDir: at(data.run_dir ?? `${data.name}.run`),
    seed: data.seed ?? DEFAULT_SEED,
    pivot: pivotModel,
    sources: resolvedSources,
    data: {
      train: at(data.data.train),
      validation: (data.data.validation ?? []).map((entry) => ({ name: entry.name, path: at(entry.path) })),
      test: (data.data.test ?? []).map((entry) => ({ name: entry.name, path: at(entry.path) })),
    },
    capture: {
      topK: capture.top_k ?? DEFAULT_TOP_K,
      maxLength: capture.max_length,
      truncation: capture.truncation ?? 'keep-first',
      batchTokens:
        capture.batch_tokens ??
        (capture.batch_size !== undefined && capture.max_length !== undefined
          ? capture.batch_size * capture.max_length
          : DEFAULT_BATCH_TOKENS),
    },
    training: { control: data.training?.control ?? true, trainConfig },
    merge: {
      method,
      parameters: data.merge?.parameters ?? {},
      models: data.merge?.models ?? {},
      dtype: data.merge?.dtype,
    },
    eval: {
      batchSize: data.eval?.batch_size ?? DEFAULT_EVAL_BATCH_SIZE,
      maxLength: data.eval?.max_length,
    },
    report: {
      samples: {
        prompts: data.report?.samples?.prompts ?? [],
        maxNewTokens: data.report?.samples?.max_new_tokens ?? DEFAULT_MAX_NEW_TOKENS,
        decoding: {
          temperature: data.report?.samples?.temperature ?? 0,
          ...(data.report?.samples?.top_k === undefined ? {} : { topK: data.report.samples.top_k }),
          topP: data.report?.samples?.top_p ?? 1,
          repetitionPenalty: data.report?.samples?.repetition_penalty ?? 1,
          noRepeatNgramSize: data.report?.samples?.no_repeat_ngram_size ?? 0,
          minNewTokens: data.report?.samples?.min_new_tokens ?? 0,
          seed: data.report?.samples?.seed ?? data.seed ?? DEFAULT_SEED,
        },
      },
    },
    input: data,
  };
  return { config, problems: [], issues: [], raw, lineOf };
}

/** Train-config names of the keys this config spells its own way. */
const TRAIN_KEYS_HERE: Readonly<Record<string, string>> = {
  lm_loss_weight: 'lambda',
  per_device_train_batch_size: 'batch_size',
};

/** The `training:` mapping as a `fusechat train` config spells it (without model, stores, output). */
function toTrainConfig(
  training: NonNullable<PipelineConfigInput['training']>,
  fusion: string,
  seed: number,
): ResolvedPipelineConfig['training']['trainConfig'] {
  const { control: _control, lambda, batch_size, fusion: _fusion, ...optimisation } = training;
  return definedOnly({
    ...optimisation,
    lm_loss_weight: lambda ?? 0.9,
    per_device_train_batch_size: batch_size,
    fusion,
    seed,
  });
}

/** True when a model reference as written is a Hugging Face id rather than a path. */
export function isHubReference(reference: string): boolean {
  return HUB_ID.test(reference) && !reference.startsWith('.') && !isAbsolute(reference);
}

export function formatProblems(
  problems: readonly { path: readonly PropertyKey[]; message: string }[],
  lineOf: (path: readonly PropertyKey[]) => number | undefined,
): string[] {
  const lines = problems.map((problem) => ({ line: lineOf(problem.path), ...problem }));
  // File order when lines are known; a stable sort keeps the schema's order otherwise.
  lines.sort((a, b) => (a.line ?? Number.POSITIVE_INFINITY) - (b.line ?? Number.POSITIVE_INFINITY));
  return lines.map(
    (problem) =>
      `${dottedPath(problem.path)}${problem.line === undefined ? '' : ` (line ${problem.line})`}: ${problem.message}`,
  );
}

function unknownName(kind: string, name: string, known: readonly string[]): string {
  const suggestion = closestName(name, known);
  return `unknown ${kind} "${name}"${suggestion ? `; did you mean "${suggestion}"?` : ''} (known: ${known.join(', ') || 'none'})`;
}

/** Keys people write from habit (train config and other tools' names) → what to write here. */
const ALIASES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  training: {
    lr: 'learning_rate',
    lm_loss_weight: 'lambda',
    per_device_train_batch_size: 'batch_size',
    epochs: 'num_train_epochs',
    seed: 'seed (at the top level)',
    fusion_function: 'fusion',
  },
  capture: { k: 'top_k', topk: 'top_k', max_seq_length: 'max_length' },
  merge: { merge_method: 'method', base_model: '(nothing: the pivot is the base)' },
  '': { output_dir: 'run_dir', out: 'run_dir', models: 'sources', eval_data: 'data.test' },
};

function unknownKeyMessage(key: string, parent: readonly PropertyKey[]): string {
  const known = Object.keys(schemaAt(parent) ?? {});
  const parentKey = parent.filter((segment) => typeof segment === 'string').join('.');
  const suggestion =
    ALIASES[parentKey]?.[key] ??
    known.find((name) => key.length >= 3 && (name.startsWith(key) || key.startsWith(name))) ??
    closestName(key, known);
  return `unknown key${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
}

/** Keys of the strict object at `path` of the schema (list indices skipped). */
function schemaAt(path: readonly PropertyKey[]): Record<string, unknown> | undefined {
  let schema: unknown = pipelineConfigSchema;
  for (const segment of path) {
    let current = schema as {
      def?: { type?: string; innerType?: unknown; element?: unknown; shape?: unknown };
    };
    while (current?.def?.type === 'optional') current = current.def.innerType as typeof current;
    if (typeof segment === 'number') {
      schema = current?.def?.element;
      continue;
    }
    const shape = (current as { shape?: Record<string, unknown> }).shape;
    schema = shape?.[String(segment)];
  }
  let current = schema as { def?: { type?: string; innerType?: unknown } };
  while (current?.def?.type === 'optional') current = current.def.innerType as typeof current;
  return (current as { shape?: Record<string, unknown> })?.shape;
}

function issueMessage(issue: z.core.$ZodIssue, value: unknown): string {
  const got = value === undefined ? '' : `, got ${JSON.stringify(value)}`;
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return 'required';
      if (issue.expected === 'int') return `must be a whole number${got}`;
      return `must be ${article(issue.expected)}${got}`;
    case 'too_small':
      if (issue.origin === 'string' || issue.origin === 'array') return issue.message;
      return `must be ${issue.inclusive ? '≥' : '>'} ${issue.minimum}${got}`;
    case 'too_big':
      return `must be ${issue.inclusive ? '≤' : '<'} ${issue.maximum}${got}`;
    case 'invalid_value': {
      const known = issue.values.filter((entry): entry is string => typeof entry === 'string');
      const suggestion = typeof value === 'string' ? closestName(value, known) : undefined;
      return `must be one of ${issue.values.map((entry) => JSON.stringify(entry)).join(', ')}${got}${
        suggestion ? `; did you mean "${suggestion}"?` : ''
      }`;
    }
    default:
      return `${issue.message}${got}`;
  }
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

/** Offset of the key (or list item) at `path` in the YAML source. */
function keyOffset(node: unknown, path: readonly PropertyKey[]): number | undefined {
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

export type { PipelineConfigInput };
