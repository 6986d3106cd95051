import { registerCoreGradients } from '@fusechat/backend';
import { InvalidInputError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import type {
  Architecture,
  DecoderOutput,
  ForwardContext,
  KvCache,
  PreparedProjection,
} from '../architectures/architecture.js';
import type { ModelConfig } from '../config/model-config.js';
import { type GenerateOptions, type GenerateResult, generate } from '../generation/generate.js';
import { checkActivationBudget } from '../numerics/activation-budget.js';
import { createAttentionLayout } from '../ops/attention-layout.js';
import { linear } from '../ops/linear.js';

/** A LoRA adapter on one projection: `W x + scale · B (A x)`, `A [rank, in]`, `B [out, rank]`. */
export interface LoraAdapter {
  /** HF module prefix (`model.layers.0.self_attn.q_proj`). */
  readonly module: string;
  readonly a: tf.Variable;
  readonly b: tf.Variable;
  /** `alpha / rank`. */
  readonly scale: number;
}

/** Options of {@link CausalLM.logits}. */
export interface LogitsOptions<Output extends 'tensor' | 'array' = 'tensor' | 'array'> {
  /** `tensor` (default): a `[batch, time, vocab]` tensor the caller must dispose; `array`: nested numbers. */
  readonly output?: Output;
}

/** Options of {@link CausalLM.forward}. */
export interface ForwardOptions {
  /** 0/1 `[batch, time]`: 0 marks padding (left or right). Default: all ones. */
  readonly attentionMask?: tf.Tensor | readonly (readonly number[])[] | undefined;
  /** Accepted for API symmetry; Llama-family models have no dropout, so it changes nothing. */
  readonly training?: boolean | undefined;
}

/**
 * A decoder-only causal LM held in tfjs variables under Hugging Face tensor names.
 * Create with `loadModel`, `createModel`; release with `dispose()`.
 */
export interface CausalLM {
  readonly config: ModelConfig;
  readonly architecture: Architecture;
  /** Every base tensor by HF name (float32 variables; frozen while LoRA adapters are attached). */
  readonly weights: ReadonlyMap<string, tf.Variable>;
  /** LoRA adapters by module prefix (empty unless `applyLora` was called). */
  readonly adapters: ReadonlyMap<string, LoraAdapter>;
  /** Directory the model was loaded from (tokenizer files are copied from it on save). */
  readonly sourceDirectory: string | undefined;
  /**
   * Logits for a batch of token ids, `[batch][time][vocab]`. With the default `output: 'tensor'`
   * the caller owns (and must dispose) the returned tensor. Positions where `attentionMask` is 0
   * get finite but meaningless logits.
   */
  logits(
    inputIds: readonly (readonly number[])[],
    attentionMask?: readonly (readonly number[])[],
  ): Promise<tf.Tensor3D>;
  logits(
    inputIds: readonly (readonly number[])[],
    attentionMask: readonly (readonly number[])[] | undefined,
    options: LogitsOptions<'tensor'>,
  ): Promise<tf.Tensor3D>;
  logits(
    inputIds: readonly (readonly number[])[],
    attentionMask: readonly (readonly number[])[] | undefined,
    options: LogitsOptions<'array'>,
  ): Promise<number[][][]>;
  /**
   * Synchronous, differentiable forward pass for training: int32 ids `[batch, time]` → logits
   * `[batch, time, vocab]`. Call it inside `tf.tidy` / `optimizer.minimize`; the result is owned
   * by the caller (or the enclosing tidy).
   */
  forward(inputIds: tf.Tensor | readonly (readonly number[])[], options?: ForwardOptions): tf.Tensor3D;
  /**
   * `forward` without the output projection: the final hidden states `[batch, time, hiddenSize]`
   * (after the last norm). With {@link outputProjection}, the logits of any subset of positions,
   * a chunk at a time, so `[batch, time, vocab]` never has to exist (capture of 150k-token
   * vocabularies). Synchronous; the result is owned by the caller (or the enclosing tidy).
   * Throws `MODEL_UNSUPPORTED_OPERATION` when the architecture does not implement `hiddenStates`.
   */
  hiddenStates(inputIds: tf.Tensor | readonly (readonly number[])[], options?: ForwardOptions): tf.Tensor3D;
  /**
   * The output projection (`lm_head` or the tied embeddings, with bias and LoRA adapter), its
   * weight transposed once: `apply(hidden [rows, hiddenSize])` → logits `[rows, vocab]`, equal to
   * what `forward` gives for those rows. The caller disposes it (frees the transposed copy: one
   * `vocab × hiddenSize` float32 tensor). Throws `MODEL_UNSUPPORTED_OPERATION` when the
   * architecture does not implement `outputProjection`.
   */
  outputProjection(): PreparedProjection;
  /** One pass of the architecture with a KV cache (used by `generate`); tensors owned by the caller. */
  step(
    inputIds: readonly (readonly number[])[],
    options: { cache?: KvCache; keyMask?: readonly (readonly number[])[]; lastPositionOnly?: boolean },
  ): DecoderOutput & { cache: KvCache };
  /** KV-cache generation from one prompt; see {@link generate}. */
  generate(prompt: readonly number[], options?: GenerateOptions): Promise<GenerateResult>;
  /** The variables an optimizer should update: LoRA A/B when adapters are attached, else all weights. */
  trainableVariables(): tf.Variable[];
  /** {@link trainableVariables} by name (`…q_proj.weight`, or `…q_proj.lora_A.weight` for adapters). */
  namedTrainableVariables(): Map<string, tf.Variable>;
  /** Releases every variable of the model (and its adapters). */
  dispose(): void;
}

/** Internal: what the model keeps that LoRA helpers change. */
export interface MutableCausalLM extends CausalLM {
  readonly adapters: Map<string, LoraAdapter>;
}

/**
 * Wraps already-validated float32 tensors into a {@link CausalLM}; `loadModel` and `createModel`
 * build on it. Takes ownership of `weights`.
 *
 * @example
 * ```ts
 * const model = createCausalLM({ config, architecture, weights, sourceDirectory: undefined });
 * ```
 */
export function createCausalLM(parts: {
  config: ModelConfig;
  architecture: Architecture;
  weights: Map<string, tf.Tensor>;
  sourceDirectory: string | undefined;
}): MutableCausalLM {
  const { config, architecture } = parts;
  // Training needs tfjs's gradients; `@tensorflow/tfjs-core` alone registers none (idempotent).
  registerCoreGradients();
  const weights = new Map<string, tf.Variable>();
  for (const [name, tensor] of parts.weights) {
    weights.set(name, tf.variable(tensor, true));
    tensor.dispose();
  }
  const adapters = new Map<string, LoraAdapter>();
  const context: ForwardContext = {
    config,
    weight(name) {
      const found = weights.get(name);
      if (found === undefined)
        throw new InvalidInputError(`The model has no tensor "${name}".`, { code: 'MODEL_MISSING_TENSOR' });
      return found;
    },
    hasWeight: (name) => weights.has(name),
    project(x, module) {
      const weight = context.weight(`${module}.weight`);
      const bias = weights.get(`${module}.bias`);
      const base = linear(x, weight, bias);
      const adapter = adapters.get(module);
      if (adapter === undefined) return base;
      return tf.add(base, tf.mul(linear(linear(x, adapter.a), adapter.b), adapter.scale));
    },
    prepareProjection(module) {
      const weight = context.weight(`${module}.weight`);
      const bias = weights.get(`${module}.bias`);
      const adapter = adapters.get(module);
      // Explicit transpose, once: matMul with transposeB is 10–50× slower on wasm, and `project`
      // transposes on every call.
      const transposed = tf.keep(tf.tidy(() => tf.transpose(weight)));
      const [outFeatures, inFeatures] = weight.shape as [number, number];
      return {
        inFeatures,
        outFeatures,
        apply: (x) =>
          tf.tidy(() => {
            let y: tf.Tensor2D = tf.matMul(x, transposed as tf.Tensor2D);
            if (bias !== undefined) y = tf.add(y, bias);
            if (adapter === undefined) return y;
            return tf.add(y, tf.mul(linear(linear(x, adapter.a), adapter.b), adapter.scale));
          }),
        dispose: () => transposed.dispose(),
      };
    },
  };

  const unsupported = (operation: string) =>
    new InvalidInputError(
      `The ${architecture.modelType} architecture does not implement ${operation}; use forward/logits instead.`,
      { code: 'MODEL_UNSUPPORTED_OPERATION', details: { operation, modelType: architecture.modelType } },
    );

  const toIds = (inputIds: tf.Tensor | readonly (readonly number[])[]): tf.Tensor2D => {
    if (inputIds instanceof tf.Tensor) {
      if (inputIds.rank !== 2) {
        throw new InvalidInputError(
          `inputIds must be [batch, time], got shape [${inputIds.shape.join(', ')}].`,
          {
            code: 'MODEL_INVALID_INPUT',
            field: 'inputIds',
          },
        );
      }
      return (inputIds.dtype === 'int32' ? inputIds : tf.cast(inputIds, 'int32')) as tf.Tensor2D;
    }
    const [batch, time] = checkTokenIds(inputIds, config.vocabSize);
    return tf.tensor2d(Int32Array.from(inputIds.flat()), [batch, time], 'int32');
  };

  const forward: CausalLM['forward'] = (inputIds, options = {}) =>
    tf.tidy(() => {
      const ids = toIds(inputIds);
      const [batch, time] = ids.shape;
      checkActivationBudget(config, { batch, queryLength: time, logitsRows: batch * time });
      const keyMask = readMask(options.attentionMask, batch, time);
      const layout = createAttentionLayout({ batch, queryLength: time, keyMask });
      return architecture.forward(context, { inputIds: ids, layout }).logits;
    });

  const model: MutableCausalLM = {
    config,
    architecture,
    weights,
    adapters,
    sourceDirectory: parts.sourceDirectory,
    async logits(
      inputIds: readonly (readonly number[])[],
      attentionMask?: readonly (readonly number[])[],
      options: LogitsOptions = {},
    ): Promise<never> {
      const result = forward(inputIds, { attentionMask });
      if (options.output !== 'array') return result as never;
      try {
        return (await result.array()) as never;
      } finally {
        result.dispose();
      }
    },
    forward,
    hiddenStates(inputIds, options = {}) {
      const hiddenStates = architecture.hiddenStates;
      if (hiddenStates === undefined) throw unsupported('hiddenStates');
      return tf.tidy(() => {
        const ids = toIds(inputIds);
        const [batch, time] = ids.shape;
        checkActivationBudget(config, { batch, queryLength: time, logitsRows: 0 });
        const keyMask = readMask(options.attentionMask, batch, time);
        const layout = createAttentionLayout({ batch, queryLength: time, keyMask });
        return hiddenStates(context, { inputIds: ids, layout });
      });
    },
    outputProjection() {
      if (architecture.outputProjection === undefined) throw unsupported('outputProjection');
      return architecture.outputProjection(context);
    },
    step(inputIds, options) {
      const [batch, time] = checkTokenIds(inputIds, config.vocabSize);
      const pastLength = options.cache?.length ?? 0;
      checkActivationBudget(config, {
        batch,
        queryLength: time,
        keyLength: pastLength + time,
        logitsRows: options.lastPositionOnly ? batch : batch * time,
      });
      const keyMask =
        options.keyMask === undefined ? undefined : readMask(options.keyMask, batch, pastLength + time);
      const layout = createAttentionLayout({ batch, queryLength: time, pastLength, keyMask });
      return tf.tidy(() => {
        const ids = tf.tensor2d(Int32Array.from(inputIds.flat()), [batch, time], 'int32');
        const output = architecture.forward(context, {
          inputIds: ids,
          layout,
          cache: options.cache,
          returnCache: true,
          lastPositionOnly: options.lastPositionOnly,
        });
        // tf.tidy keeps tensors nested in the returned object.
        return output as unknown as tf.TensorContainerObject;
      }) as unknown as DecoderOutput & { cache: KvCache };
    },
    generate: (prompt, options) => generate(model, prompt, options),
    trainableVariables: () => [...model.namedTrainableVariables().values()],
    namedTrainableVariables() {
      const named = new Map<string, tf.Variable>();
      if (adapters.size > 0) {
        for (const adapter of adapters.values()) {
          named.set(`${adapter.module}.lora_A.weight`, adapter.a);
          named.set(`${adapter.module}.lora_B.weight`, adapter.b);
        }
        return named;
      }
      for (const [name, variable] of weights) if (variable.trainable) named.set(name, variable);
      return named;
    },
    dispose() {
      for (const variable of weights.values()) variable.dispose();
      for (const adapter of adapters.values()) {
        adapter.a.dispose();
        adapter.b.dispose();
      }
      weights.clear();
      adapters.clear();
    },
  };
  return model;
}

/** Validates a rectangular batch of token ids in `[0, vocabSize)`; returns `[batch, time]`. */
function checkTokenIds(inputIds: readonly (readonly number[])[], vocabSize: number): [number, number] {
  if (
    !Array.isArray(inputIds) ||
    inputIds.length === 0 ||
    !Array.isArray(inputIds[0]) ||
    inputIds[0].length === 0
  ) {
    throw new InvalidInputError(
      'inputIds must be a non-empty array of non-empty token id arrays ([batch][time]).',
      {
        code: 'MODEL_INVALID_INPUT',
        field: 'inputIds',
      },
    );
  }
  const time = inputIds[0].length;
  inputIds.forEach((row, b) => {
    if (row.length !== time) {
      throw new InvalidInputError(
        `inputIds[${b}] has ${row.length} tokens, row 0 has ${time}: pad the batch and pass an attentionMask.`,
        {
          code: 'MODEL_INVALID_INPUT',
          field: `inputIds[${b}]`,
        },
      );
    }
    row.forEach((id: number, t: number) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new InvalidInputError(`inputIds[${b}][${t}] = ${id} is not a token id in [0, ${vocabSize}).`, {
          code: 'MODEL_INVALID_INPUT',
          field: `inputIds[${b}][${t}]`,
        });
      }
    });
  });
  return [inputIds.length, time];
}

function readMask(
  mask: tf.Tensor | readonly (readonly number[])[] | undefined,
  batch: number,
  time: number,
): Uint8Array | undefined {
  if (mask === undefined) return undefined;
  const values = mask instanceof tf.Tensor ? mask.dataSync() : mask.flat();
  const shape = mask instanceof tf.Tensor ? mask.shape : [mask.length, mask[0]?.length ?? 0];
  const rectangular = mask instanceof tf.Tensor || mask.every((row) => row.length === time);
  if (shape.length !== 2 || shape[0] !== batch || shape[1] !== time || !rectangular) {
    throw new InvalidInputError(
      `attentionMask must have the shape of the ids [${batch}, ${time}], got [${shape.join(', ')}].`,
      {
        code: 'MODEL_INVALID_INPUT',
        field: 'attentionMask',
      },
    );
  }
  const result = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value !== 0 && value !== 1) {
      throw new InvalidInputError(`attentionMask values must be 0 or 1, got ${value}.`, {
        code: 'MODEL_INVALID_INPUT',
        field: 'attentionMask',
      });
    }
    result[i] = value;
  }
  return result;
}
