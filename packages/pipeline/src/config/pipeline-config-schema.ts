import { parameterSettingSchema } from '@fusechat/merge';
import { trainConfigSchema } from '@fusechat/training';
import { z } from 'zod';

const path = (what: string) => z.string().min(1, `${what} must not be empty`);
const positiveInteger = z.int().min(1);
/** Names become directory names under the run directory. */
const stageName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    'must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit (it names a directory)',
  );
const train = trainConfigSchema.shape;
const mergeParameters = z.record(z.string(), parameterSettingSchema);

/** `pivot:` — the model every target is trained from. */
export const pivotConfigSchema = z
  .strictObject({
    name: stageName
      .optional()
      .describe('Name of the pivot in the run directory and the results (default pivot).'),
    model: path('model').describe(
      'The pivot: a Hugging Face model directory (relative to the config file) or a Hugging Face id ORG/NAME[@revision].',
    ),
    chat_template: path('chat_template')
      .optional()
      .describe("A .jinja file or tokenizer_config.json used instead of the model's chat template."),
  })
  .describe('The pivot model: captured, fine-tuned into one target per source, and the base of the merge.');

/** One entry of `sources:` — a local model (`model`) or an inference server (`endpoint`). */
export const sourceConfigSchema = z
  .strictObject({
    name: stageName.describe('Name of the source (its directories under capture/, align/, train/).'),
    model: path('model')
      .optional()
      .describe('A local source: a Hugging Face model directory or a Hugging Face id ORG/NAME[@revision].'),
    endpoint: z
      .url()
      .optional()
      .describe(
        'A remote source: the inference server (vLLM or SGLang) to capture from, e.g. http://gpu-1:8000.',
      ),
    model_name: z.string().min(1).optional().describe('With endpoint: the served model name.'),
    tokenizer: path('tokenizer')
      .optional()
      .describe("With endpoint: the served model's tokenizer files (a directory or a Hugging Face id)."),
    dialect: z
      .enum(['vllm', 'sglang'])
      .optional()
      .describe('With endpoint: the server protocol (default vllm).'),
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
      .optional()
      .describe('With endpoint: the environment variable holding the API key (sent as Bearer).'),
    concurrency: positiveInteger
      .optional()
      .describe('With endpoint: requests in flight at most (default 8).'),
    mapping: z
      .string()
      .min(1)
      .optional()
      .describe('Vocabulary mapping onto the pivot: exact, min-edit-distance (default) or statistics.'),
    chat_template: path('chat_template')
      .optional()
      .describe("A .jinja file or tokenizer_config.json used instead of the source's chat template."),
  })
  .describe(
    'A source model: captured over the train data, aligned onto the pivot, fused into its own target.',
  );

/** A named data file (`data.validation`, `data.test`). */
export const namedDataFileSchema = z.strictObject({
  name: stageName.describe('The split name (a domain), as the results table shows it.'),
  path: path('path').describe('Chat JSONL, relative to the config file.'),
});

export const dataConfigSchema = z
  .strictObject({
    train: path('train').describe('Chat JSONL captured by every model and trained on.'),
    validation: z
      .array(namedDataFileSchema)
      .optional()
      .describe('Held-out chat JSONL splits for choosing hyperparameters (evaluated like test).'),
    test: z
      .array(namedDataFileSchema)
      .optional()
      .describe('Held-out chat JSONL splits: response loss and perplexity per model and split.'),
  })
  .describe('The chat data.');

export const captureConfigSchema = z
  .strictObject({
    top_k: positiveInteger.optional().describe('Entries kept per position (FuseChat 10).'),
    max_length: z
      .int()
      .min(2)
      .optional()
      .describe("Longest sequence in tokens (default: each model's max_position_embeddings)."),
    truncation: z
      .enum(['keep-first', 'keep-last', 'refuse'])
      .optional()
      .describe('What happens to longer examples (default keep-first).'),
    batch_size: positiveInteger
      .optional()
      .describe('Sequences per forward pass of a local model: batch_tokens = batch_size × max_length.'),
    batch_tokens: positiveInteger
      .optional()
      .describe('Padded tokens per forward pass of a local model (default 4096; wins over batch_size).'),
  })
  .describe('Distribution capture options (fusechat capture).');

export const trainingConfigSchema = z
  .strictObject({
    lambda: train.lm_loss_weight.describe('λ of λ·CLM + (1−λ)·fusion (FuseChat default 0.9).'),
    fusion: z
      .string()
      .min(1)
      .optional()
      .describe('Fusion function: min-ce (default) or avg-ce (min_ce / avg_ce also accepted).'),
    learning_rate: train.learning_rate,
    max_steps: train.max_steps,
    num_train_epochs: train.num_train_epochs,
    batch_size: train.per_device_train_batch_size.describe('Examples per micro-batch (default 8).'),
    batch_tokens: train.batch_tokens,
    gradient_accumulation_steps: train.gradient_accumulation_steps,
    model_max_length: train.model_max_length,
    weight_decay: train.weight_decay,
    adam_beta1: train.adam_beta1,
    adam_beta2: train.adam_beta2,
    adam_epsilon: train.adam_epsilon,
    lr_scheduler_type: train.lr_scheduler_type,
    warmup_ratio: train.warmup_ratio,
    warmup_steps: train.warmup_steps,
    max_grad_norm: train.max_grad_norm,
    distill_temperature: train.distill_temperature,
    distill_loss_type: train.distill_loss_type,
    logging_steps: train.logging_steps,
    save_steps: train.save_steps,
    save_total_limit: train.save_total_limit,
    non_finite: train.non_finite,
    lora: train.lora,
    control: z
      .boolean()
      .optional()
      .describe(
        'Also train the CLM-only control: the pivot on the same data and steps with λ = 1 (default true).',
      ),
  })
  .describe(
    "Training of every target (fusechat train's optimisation keys; the seed is the pipeline's). Each source's target is the pivot trained on the pivot store and that source's aligned store.",
  );

export const pipelineMergeConfigSchema = z
  .strictObject({
    method: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Merge method of the targets against the pivot: variation-ratio (VaRM, default), linear, task-arithmetic, ties, dare-linear, dare-ties, sce, slerp (mergekit names with _ also accepted).',
      ),
    parameters: mergeParameters
      .optional()
      .describe('Global method parameters, mergekit names (weight, density, lambda, normalize, …).'),
    models: z
      .record(z.string(), mergeParameters)
      .optional()
      .describe("Per-target parameters, keyed by source name (mergekit's per-model parameters)."),
    dtype: z
      .enum(['float32', 'float16', 'bfloat16'])
      .optional()
      .describe('Output dtype (default: the pivot’s).'),
  })
  .describe('The merge of the targets (skipped with a single source).');

export const evalConfigSchema = z
  .strictObject({
    batch_size: positiveInteger.optional().describe('Examples per evaluation batch (default 8).'),
    max_length: z
      .int()
      .min(2)
      .optional()
      .describe("Longest evaluated sequence (default: the model's limit)."),
  })
  .describe('Held-out evaluation (response loss and perplexity per model and test split).');

export const reportConfigSchema = z
  .strictObject({
    samples: z
      .strictObject({
        prompts: z
          .array(z.string().min(1))
          .describe('User prompts completed by the pivot, targets, control and merged model.'),
        max_new_tokens: positiveInteger.optional().describe('Tokens generated per prompt (default 24).'),
        temperature: z
          .number()
          .min(0)
          .optional()
          .describe('0 (default) = greedy; otherwise sample from softmax(logits / temperature).'),
        top_k: positiveInteger
          .optional()
          .describe('Sample only from the k most likely tokens (default: no limit).'),
        top_p: z
          .number()
          .gt(0)
          .max(1)
          .optional()
          .describe('Nucleus sampling: the most likely tokens whose probabilities reach top_p (default 1).'),
        repetition_penalty: z
          .number()
          .gt(0)
          .optional()
          .describe(
            "transformers' repetition_penalty: logits of ids already in the prompt or completion are divided by it (multiplied when negative); default 1 = off.",
          ),
        no_repeat_ngram_size: z
          .int()
          .min(0)
          .optional()
          .describe(
            "transformers' no_repeat_ngram_size: never complete an n-gram that already occurs; default 0 = off.",
          ),
        min_new_tokens: z
          .int()
          .min(0)
          .optional()
          .describe("transformers' min_new_tokens: no stop token among the first n tokens (default 0)."),
        seed: z.int().optional().describe("Seed of the sampler (default: the run's seed)."),
      })
      .optional(),
  })
  .describe('The HTML report.');

/**
 * zod schema of a pipeline config as written (YAML, snake_case like mergekit and train configs).
 * Every object is strict: an unknown key is an error. Cross-field rules (remote sources need
 * `model_name` and `tokenizer`, unique names, known methods) live in `parsePipelineConfig`.
 */
export const pipelineConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('URL of this JSON Schema, for editors (ignored).'),
    name: stageName.describe('The pipeline name: the identity of its run directory.'),
    run_dir: path('run_dir')
      .optional()
      .describe('The run directory, relative to the config file (default <config dir>/<name>.run).'),
    seed: z.int().min(0).optional().describe('Seed of training and everything random (default 42).'),
    pivot: pivotConfigSchema,
    sources: z.array(sourceConfigSchema).min(1, 'list at least one source').describe('The source models.'),
    data: dataConfigSchema,
    capture: captureConfigSchema.optional(),
    training: trainingConfigSchema.optional(),
    merge: pipelineMergeConfigSchema.optional(),
    eval: evalConfigSchema.optional(),
    report: reportConfigSchema.optional(),
  })
  .describe(
    'fusechat run: the whole FuseChat pipeline (capture, align, train, merge, eval, report) from one config.',
  );

/** A pipeline config as written (the YAML mapping, snake_case). */
export type PipelineConfigInput = z.input<typeof pipelineConfigSchema>;
