import { z } from 'zod';

const path = (what: string) => z.string().min(1, `${what} must not be empty`);
const positiveInteger = z.int().min(1);
const probability = z.number().min(0).max(1);

/** `lora:` — LoRA instead of full fine-tuning (PEFT `LoraConfig` names). */
export const loraConfigSchema = z
  .strictObject({
    r: positiveInteger.describe('Rank of the update B·A (PEFT `r`).'),
    alpha: z
      .number()
      .gt(0)
      .optional()
      .describe('Scaling numerator: the update is multiplied by alpha / r (PEFT `lora_alpha`, default r).'),
    target_modules: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(
        'Projections to adapt: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head (default q_proj, v_proj).',
      ),
  })
  .describe(
    'LoRA adapters instead of full fine-tuning; saved in PEFT layout and merged into the final model.',
  );

/**
 * zod schema of a `fusechat train` config as written (YAML, snake_case). Names follow Hugging
 * Face `TrainingArguments` where one exists and FuseChat's training script for fusion. Objects are
 * strict: an unknown key is an error. Cross-field rules live in `parseTrainConfig`.
 */
export const trainConfigSchema = z
  .strictObject({
    $schema: z.string().optional().describe('URL of this JSON Schema, for editors (ignored).'),
    // ── model, data, output ──
    model_name_or_path: path('model_name_or_path').describe(
      'The model to fine-tune (the pivot): a Hugging Face directory with config.json, *.safetensors and tokenizer files.',
    ),
    output_dir: path('output_dir').describe(
      'Where checkpoints (checkpoint-<step>/), metrics.jsonl, loss.svg and the final model (model/) go.',
    ),
    pivot_store: path('pivot_store')
      .optional()
      .describe("Fusion training: the pivot's distribution store (fusechat capture of model_name_or_path)."),
    aligned_stores: z
      .array(path('an aligned store'))
      .optional()
      .describe('Fusion training: source stores aligned onto pivot_store (fusechat align), fused per batch.'),
    train_file: path('train_file')
      .optional()
      .describe(
        'Plain supervised fine-tuning (CLM only): chat JSONL, rendered with the chat template; assistant tokens supervised.',
      ),
    eval_file: path('eval_file')
      .optional()
      .describe('Held-out chat JSONL: eval loss is the CLM loss on its assistant tokens.'),
    eval_pivot_store: path('eval_pivot_store')
      .optional()
      .describe('Held-out pivot store: eval loss is the training loss (λ·CLM + (1−λ)·fusion) on it.'),
    eval_aligned_stores: z
      .array(path('an aligned store'))
      .optional()
      .describe('Source stores aligned onto eval_pivot_store.'),
    chat_template: path('chat_template')
      .optional()
      .describe(
        "A .jinja file or tokenizer_config.json rendering train_file / eval_file (default: the model's).",
      ),
    model_max_length: z
      .int()
      .min(2)
      .optional()
      .describe(
        "Examples longer than this many tokens are truncated (FuseChat `model_max_length`; default: the model's max_position_embeddings).",
      ),

    // ── batching ──
    per_device_train_batch_size: positiveInteger
      .optional()
      .describe('Examples per micro-batch (HF default 8).'),
    per_device_eval_batch_size: positiveInteger
      .optional()
      .describe('Examples per evaluation batch (default: per_device_train_batch_size).'),
    batch_tokens: positiveInteger
      .optional()
      .describe(
        'Padded-token budget of a micro-batch (batch × longest example): long examples get smaller batches.',
      ),
    gradient_accumulation_steps: positiveInteger
      .optional()
      .describe(
        'Micro-batches per optimizer step; the loss is normalised by the supervised tokens of the whole step (default 1).',
      ),

    // ── optimizer and schedule ──
    learning_rate: z.number().min(0).optional().describe('Peak AdamW learning rate (HF default 5e-5).'),
    weight_decay: z
      .number()
      .min(0)
      .optional()
      .describe('Decoupled AdamW weight decay, never on biases and norm weights (default 0).'),
    adam_beta1: z.number().min(0).lt(1).optional().describe('AdamW β1 (default 0.9).'),
    adam_beta2: z.number().min(0).lt(1).optional().describe('AdamW β2 (default 0.999).'),
    adam_epsilon: z
      .number()
      .gt(0)
      .optional()
      .describe('AdamW ε, added outside the square root (default 1e-8).'),
    max_steps: z
      .union([z.literal(-1), positiveInteger])
      .optional()
      .describe("Optimizer steps; overrides num_train_epochs (-1, HF's default, means unset)."),
    num_train_epochs: z
      .number()
      .gt(0)
      .optional()
      .describe(
        'Passes over the training data when max_steps is unset (HF default 3; a fraction stops mid-epoch).',
      ),
    lr_scheduler_type: z
      .enum(['linear', 'cosine', 'constant', 'constant_with_warmup'])
      .optional()
      .describe('Decay after warmup, with the HF formulas (default linear).'),
    warmup_ratio: probability
      .optional()
      .describe('Linear warmup as a share of the optimizer steps (default 0).'),
    warmup_steps: z
      .int()
      .min(0)
      .optional()
      .describe('Linear warmup in optimizer steps; wins over warmup_ratio.'),
    max_grad_norm: z
      .number()
      .min(0)
      .nullable()
      .optional()
      .describe('Global-norm gradient clipping (default 1.0; 0 or null turns it off).'),
    seed: z
      .int()
      .min(0)
      .optional()
      .describe('Seed of data order, LoRA init and everything random (default 42).'),

    // ── fusion (FuseChat) ──
    lm_loss_weight: probability.optional().describe('λ of λ·CLM + (1−λ)·fusion (FuseChat default 0.9).'),
    fusion: z
      .string()
      .min(1)
      .optional()
      .describe("How the teachers' distributions are fused per example: min_ce (default) or avg_ce."),
    distill_temperature: z
      .number()
      .gt(0)
      .optional()
      .describe("Each teacher's distribution is softened with this temperature before fusion (default 1)."),
    distill_loss_type: z
      .enum(['ce', 'kl'])
      .optional()
      .describe('Fusion term: soft-target cross-entropy (default) or KL divergence.'),

    // ── logging, evaluation, checkpoints ──
    logging_steps: positiveInteger
      .optional()
      .describe('A metrics.jsonl row and progress update every N optimizer steps (default 1).'),
    eval_steps: positiveInteger
      .optional()
      .describe('Evaluate on the eval data every N optimizer steps (and at the end).'),
    save_steps: positiveInteger
      .optional()
      .describe('Write checkpoint-<step>/ every N optimizer steps (HF default 500).'),
    save_total_limit: positiveInteger
      .nullable()
      .optional()
      .describe('Keep at most this many checkpoints, deleting the oldest (default: keep all).'),
    resume_from_checkpoint: z
      .union([z.boolean(), path('resume_from_checkpoint')])
      .optional()
      .describe(
        'true (default): continue from the latest complete checkpoint in output_dir; false: start over; a path: that checkpoint.',
      ),
    early_stopping_patience: positiveInteger
      .optional()
      .describe(
        'Stop when the eval loss has not improved for this many evaluations (HF EarlyStoppingCallback).',
      ),
    early_stopping_threshold: z
      .number()
      .min(0)
      .optional()
      .describe('Smallest eval-loss decrease that counts as an improvement (default 0).'),
    non_finite: z
      .enum(['stop', 'skip'])
      .optional()
      .describe(
        'A NaN/Inf loss or gradient: stop with an error naming the step (default), or skip the step.',
      ),
    lora: loraConfigSchema.optional(),
  })
  .describe(
    'fusechat train: fine-tune a model with λ·CLM + (1−λ)·fusion over distribution stores, or plain CLM over chat JSONL.',
  );

/** A `fusechat train` config as written (the YAML mapping, snake_case). */
export type TrainConfigInput = z.input<typeof trainConfigSchema>;
