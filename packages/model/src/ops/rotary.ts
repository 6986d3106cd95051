import { InvalidInputError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig, RopeScaling } from '../config/model-config.js';

/**
 * Rotary inverse frequencies `1 / theta^(2i/d)` as `transformers` computes them (float32), with
 * the `rope_scaling` types this package supports applied (`default`, `linear`, `llama3`).
 *
 * @example
 * ```ts
 * const inverse = rotaryInverseFrequencies(config); // Float64Array(headDim / 2)
 * ```
 */
export function rotaryInverseFrequencies(
  config: Pick<ModelConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>,
): Float64Array {
  const dim = config.headDim;
  const inverse = new Float64Array(dim / 2);
  for (let i = 0; i < dim / 2; i++)
    inverse[i] = Math.fround(1 / Math.fround(config.ropeTheta ** Math.fround((2 * i) / dim)));
  const scaling = config.ropeScaling;
  const type = ropeScalingType(scaling);
  if (type === 'default') return inverse;
  const factor = Number(scaling?.factor);
  if (type === 'linear') return inverse.map((value) => Math.fround(value / factor));
  // llama3: long wavelengths divided by `factor`, a smooth blend in between (Llama 3.1+).
  const low = Number(scaling?.low_freq_factor);
  const high = Number(scaling?.high_freq_factor);
  const original = Number(scaling?.original_max_position_embeddings);
  const lowFreqWavelength = original / low;
  const highFreqWavelength = original / high;
  return inverse.map((value) => {
    const wavelength = (2 * Math.PI) / value;
    if (wavelength < highFreqWavelength) return value;
    if (wavelength > lowFreqWavelength) return Math.fround(value / factor);
    const smooth = (original / wavelength - low) / (high - low);
    return Math.fround((1 - smooth) * (value / factor) + smooth * value);
  });
}

/** Supported `rope_scaling` types; anything else is rejected when the config is parsed. */
export const SUPPORTED_ROPE_SCALING_TYPES = ['default', 'linear', 'llama3'] as const;

/**
 * The `rope_scaling` type of a config (`default` when `null`), after checking that this package
 * implements it and that its parameters are present.
 *
 * @example
 * ```ts
 * ropeScalingType(null); // 'default'
 * ropeScalingType({ rope_type: 'yarn', factor: 4 }); // throws InvalidInputError (MODEL_UNSUPPORTED_ROPE_SCALING)
 * ```
 */
export function ropeScalingType(scaling: RopeScaling | null | undefined): 'default' | 'linear' | 'llama3' {
  if (scaling === null || scaling === undefined) return 'default';
  const type = String(scaling.rope_type ?? scaling.type ?? 'default');
  if (!(SUPPORTED_ROPE_SCALING_TYPES as readonly string[]).includes(type)) {
    throw new InvalidInputError(
      `rope_scaling type "${type}" is not supported (supported: null, ${SUPPORTED_ROPE_SCALING_TYPES.join(', ')}). ` +
        'Remove rope_scaling from config.json only if the checkpoint was trained without it.',
      { code: 'MODEL_UNSUPPORTED_ROPE_SCALING', field: 'rope_scaling' },
    );
  }
  const need = (key: string) => {
    const value = scaling[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new InvalidInputError(
        `rope_scaling.${key} must be a positive number for type "${type}", got ${JSON.stringify(value)}.`,
        {
          code: 'MODEL_INVALID_CONFIG',
          field: `rope_scaling.${key}`,
        },
      );
    }
  };
  if (type === 'linear' || type === 'llama3') need('factor');
  if (type === 'llama3') {
    need('low_freq_factor');
    need('high_freq_factor');
    need('original_max_position_embeddings');
  }
  return type as 'default' | 'linear' | 'llama3';
}

/**
 * `cos` and `sin` tables `[batch, time, 1, headDim]` (broadcasting over the heads of
 * `[batch, time, heads, headDim]`) for the given position ids (`batch·time`, row-major), in the
 * `transformers` layout: the frequencies repeated over both halves.
 * The returned tensors are owned by the caller.
 *
 * @example
 * ```ts
 * const { cos, sin } = rotaryTables(inverse, Int32Array.from([0, 1, 2]), 1, 3);
 * ```
 */
export function rotaryTables(
  inverseFrequencies: Float64Array,
  positionIds: Int32Array,
  batch: number,
  time: number,
): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
  const half = inverseFrequencies.length;
  const dim = half * 2;
  const cos = new Float32Array(batch * time * dim);
  const sin = new Float32Array(batch * time * dim);
  for (let row = 0; row < batch * time; row++) {
    const position = positionIds[row]!;
    for (let i = 0; i < half; i++) {
      // transformers multiplies in float32 before taking cos/sin.
      const angle = Math.fround(position * inverseFrequencies[i]!);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[row * dim + i] = c;
      cos[row * dim + i + half] = c;
      sin[row * dim + i] = s;
      sin[row * dim + i + half] = s;
    }
  }
  return { cos: tf.tensor4d(cos, [batch, time, 1, dim]), sin: tf.tensor4d(sin, [batch, time, 1, dim]) };
}

/**
 * Applies rotary embeddings to `x` (`[batch, time, heads, headDim]`, tables from {@link rotaryTables}) with the `transformers`
 * `rotate_half` convention: `x·cos + rotate_half(x)·sin`, `rotate_half([a, b]) = [−b, a]` over
 * the first and second halves of the head dimension.
 *
 * @example
 * ```ts
 * const rotated = applyRotary(queries, cos, sin);
 * ```
 */
export function applyRotary(x: tf.Tensor4D, cos: tf.Tensor4D, sin: tf.Tensor4D): tf.Tensor4D {
  // Custom gradient: the rotation is linear, dx = dy·cos + rotate_halfᵀ(dy·sin), with
  // rotate_halfᵀ([a, b]) = [b, −a]; fewer kernels than autodiff through split/concat/neg.
  const rotate = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor4D, tf.GradSaveFunc];
    // Saved (not closed over): the enclosing tidy would dispose them before the backward pass.
    save([cos, sin]);
    return {
      value: tf.add(tf.mul(input, cos), tf.mul(rotateHalf(input), sin)),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const gradient = dy as tf.Tensor4D;
        const [savedCos, savedSin] = saved as [tf.Tensor4D, tf.Tensor4D];
        return [
          tf.add(tf.mul(gradient, savedCos), rotateHalfTransposed(tf.mul(gradient, savedSin) as tf.Tensor4D)),
        ];
      },
    };
  }) as (input: tf.Tensor4D) => tf.Tensor4D;
  return rotate(x);
}

/**
 * `rotate_half` as a product with a signed permutation matrix `R` (`x·R = [−x₂, x₁]`, and
 * `y·Rᵀ = [y₂, −y₁]` for the gradient): one plain 2-D matMul instead of split + neg + concat,
 * whose split and concat kernels copy element by element on wasm.
 */
function rotationMatrix(dim: number, transposed: boolean): tf.Tensor2D {
  const half = dim / 2;
  const values = new Float32Array(dim * dim);
  for (let i = 0; i < half; i++) {
    // R[i + half][i] = −1, R[i][i + half] = 1
    values[(i + half) * dim + i] = transposed ? 1 : -1;
    values[i * dim + i + half] = transposed ? -1 : 1;
  }
  return tf.tensor2d(values, [dim, dim]);
}

function rotateHalf(x: tf.Tensor4D): tf.Tensor4D {
  return rotateBy(x, false);
}

function rotateHalfTransposed(x: tf.Tensor4D): tf.Tensor4D {
  return rotateBy(x, true);
}

function rotateBy(x: tf.Tensor4D, transposed: boolean): tf.Tensor4D {
  const dim = x.shape[3];
  return tf.tidy(
    () =>
      tf.reshape(
        tf.matMul(tf.reshape(x, [-1, dim]) as tf.Tensor2D, rotationMatrix(dim, transposed)),
        x.shape,
      ) as tf.Tensor4D,
  );
}
