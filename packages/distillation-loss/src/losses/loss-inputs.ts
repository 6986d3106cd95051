import { InvalidInputError, NumericalError, ShapeMismatchError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * A `[batch, time]` matrix of integers: a tensor, or one array per example (rows shorter than
 * `time` are padded — with `-100` for labels, `0` for masks — so `CaptureRecord.inputIds` and
 * `CaptureRecord.labelMask` can be passed as they are).
 */
export type TokenMatrix = tf.Tensor | readonly ArrayLike<number>[];

/** Hugging Face's "not supervised" label. */
export const IGNORE_INDEX = -100;

/** The shape of the student logits: `[batch, time, vocab]`. */
export interface LogitsShape {
  readonly batchSize: number;
  readonly timeSteps: number;
  readonly vocabSize: number;
}

/** Checks the student logits and returns their dimensions. */
export function readLogitsShape(logits: tf.Tensor): LogitsShape {
  if (!(logits instanceof tf.Tensor)) {
    throw new InvalidInputError('logits must be a tf.Tensor of shape [batch, time, vocab]', {
      field: 'logits',
    });
  }
  if (logits.rank !== 3) {
    throw new ShapeMismatchError(
      `logits must have rank 3 [batch, time, vocab], got shape [${logits.shape}]`,
      {
        tensorName: 'logits',
        expectedShape: [-1, -1, -1],
        actualShape: logits.shape,
      },
    );
  }
  if (logits.dtype !== 'float32') {
    throw new InvalidInputError(`logits must be float32, got ${logits.dtype}`, { field: 'logits' });
  }
  const [batchSize, timeSteps, vocabSize] = logits.shape as [number, number, number];
  if (batchSize * timeSteps * vocabSize > 2 ** 31 - 1) {
    throw new InvalidInputError(
      `logits have ${batchSize}×${timeSteps}×${vocabSize} entries, more than int32 indexing allows; split the batch`,
      { field: 'logits' },
    );
  }
  return { batchSize, timeSteps, vocabSize };
}

/**
 * Reads a `[batch, time]` integer matrix into a flat row-major array, padding short rows with
 * `fill`. Throws a {@link ShapeMismatchError} naming `name` when the shape disagrees.
 */
export function readTokenMatrix(
  input: TokenMatrix,
  name: string,
  batchSize: number,
  timeSteps: number,
  fill: number,
): Int32Array {
  const out = new Int32Array(batchSize * timeSteps).fill(fill);
  if (input instanceof tf.Tensor) {
    if (input.rank !== 2 || input.shape[0] !== batchSize || input.shape[1] !== timeSteps) {
      throw new ShapeMismatchError(
        `${name} must have shape [${batchSize}, ${timeSteps}] to match logits, got [${input.shape}]`,
        { tensorName: name, expectedShape: [batchSize, timeSteps], actualShape: input.shape },
      );
    }
    const values = input.dataSync();
    for (let index = 0; index < values.length; index++) {
      const value = values[index]!;
      if (!Number.isInteger(value)) {
        throw new InvalidInputError(
          `${name}[${Math.floor(index / timeSteps)}][${index % timeSteps}] is ${value}, not an integer`,
          {
            field: name,
          },
        );
      }
      out[index] = value;
    }
    return out;
  }
  if (!Array.isArray(input) || input.length !== batchSize) {
    throw new ShapeMismatchError(
      `${name} must hold ${batchSize} rows (one per example) to match logits, got ${Array.isArray(input) ? input.length : typeof input}`,
      {
        tensorName: name,
        expectedShape: [batchSize, timeSteps],
        actualShape: [Array.isArray(input) ? input.length : -1],
      },
    );
  }
  for (let row = 0; row < batchSize; row++) {
    const values = input[row]!;
    if (values.length > timeSteps) {
      throw new ShapeMismatchError(
        `${name}[${row}] has ${values.length} entries, more than the ${timeSteps} time steps of logits`,
        {
          tensorName: name,
          expectedShape: [batchSize, timeSteps],
          actualShape: [batchSize, values.length],
        },
      );
    }
    for (let t = 0; t < values.length; t++) {
      const value = values[t]!;
      if (!Number.isInteger(value)) {
        throw new InvalidInputError(`${name}[${row}][${t}] is ${value}, not an integer`, { field: name });
      }
      out[row * timeSteps + t] = value;
    }
  }
  return out;
}

/** Reads a `[batch, time]` 0/1 label mask (rows padded with 0); any other value is an error. */
export function readLabelMask(input: TokenMatrix, batchSize: number, timeSteps: number): Int32Array {
  const mask = readTokenMatrix(input, 'labelMask', batchSize, timeSteps, 0);
  for (let index = 0; index < mask.length; index++) {
    const value = mask[index]!;
    if (value !== 0 && value !== 1) {
      throw new InvalidInputError(
        `labelMask[${Math.floor(index / timeSteps)}][${index % timeSteps}] is ${value}: a label mask holds 0 or 1 (labels with -100 go in \`labels\`)`,
        { field: 'labelMask' },
      );
    }
  }
  return mask;
}

/**
 * Positions that take part in a loss, flattened `b·T + t`: position `t` predicts token `t + 1`,
 * so it is active when token `t + 1` is supervised (its label is not −100 and, when a label mask
 * is given, its mask is not 0). The last position of each row is never active.
 */
export function activePositions(
  shape: LogitsShape,
  labels: Int32Array | undefined,
  labelMask: Int32Array | undefined,
): Uint8Array {
  const { batchSize, timeSteps } = shape;
  const active = new Uint8Array(batchSize * timeSteps);
  for (let b = 0; b < batchSize; b++) {
    for (let t = 0; t + 1 < timeSteps; t++) {
      const next = b * timeSteps + t + 1;
      const supervised =
        (labels === undefined || labels[next] !== IGNORE_INDEX) &&
        (labelMask === undefined || labelMask[next] !== 0);
      if (supervised) active[next - 1] = 1;
    }
  }
  return active;
}

/**
 * Sparse teacher targets read from `[batch, time, k]` tensors (or flat arrays of that size).
 */
export interface TargetArrays {
  readonly k: number;
  readonly ids: Int32Array;
  readonly logits: Float32Array;
}

/** Reads and shape-checks the fused target tensors against the student logits. */
export function readTargets(targetIds: tf.Tensor, targetLogits: tf.Tensor, shape: LogitsShape): TargetArrays {
  for (const [tensor, name] of [
    [targetIds, 'targetIds'],
    [targetLogits, 'targetLogits'],
  ] as const) {
    if (!(tensor instanceof tf.Tensor)) {
      throw new InvalidInputError(`${name} must be a tf.Tensor of shape [batch, time, k]`, { field: name });
    }
    if (tensor.rank !== 3 || tensor.shape[0] !== shape.batchSize || tensor.shape[1] !== shape.timeSteps) {
      throw new ShapeMismatchError(
        `${name} must have shape [${shape.batchSize}, ${shape.timeSteps}, k] to match logits, got [${tensor.shape}]`,
        {
          tensorName: name,
          expectedShape: [shape.batchSize, shape.timeSteps, -1],
          actualShape: tensor.shape,
        },
      );
    }
  }
  if (targetIds.shape[2] !== targetLogits.shape[2]) {
    throw new ShapeMismatchError(
      `targetIds [${targetIds.shape}] and targetLogits [${targetLogits.shape}] differ in k`,
      {
        tensorName: 'targetLogits',
        expectedShape: targetIds.shape,
        actualShape: targetLogits.shape,
      },
    );
  }
  if (targetIds.dtype !== 'int32') {
    throw new InvalidInputError(`targetIds must be int32, got ${targetIds.dtype}`, { field: 'targetIds' });
  }
  const k = targetIds.shape[2]!;
  if (k < 1)
    throw new InvalidInputError('targetIds must have at least one slot per position (k ≥ 1)', {
      field: 'targetIds',
    });
  const ids = targetIds.dataSync() as Int32Array;
  const logitsData = targetLogits.dataSync();
  const logits =
    logitsData instanceof Float32Array ? logitsData : Float32Array.from(logitsData as ArrayLike<number>);
  for (let index = 0; index < ids.length; index++) {
    const id = ids[index]!;
    if (id === -1) continue;
    if (id < 0 || id >= shape.vocabSize) {
      const [b, t, slot] = unflatten(index, shape.timeSteps, k);
      throw new InvalidInputError(
        `targetIds[${b}][${t}][${slot}] = ${id} is outside the vocabulary [0, ${shape.vocabSize}) of logits (use -1 for an empty slot)`,
        { code: 'TOKEN_ID_OUT_OF_RANGE', field: 'targetIds', details: { batch: b, time: t, slot, id } },
      );
    }
  }
  return { k, ids, logits };
}

/** `[b, t, slot]` of a flat index into a `[batch, time, k]` array. */
export function unflatten(index: number, timeSteps: number, k: number): [number, number, number] {
  const slot = index % k;
  const position = (index - slot) / k;
  return [Math.floor(position / timeSteps), position % timeSteps, slot];
}

/**
 * Opt-in check that the student logits are all finite: one on-device reduction and a one-value
 * read; only on failure is the tensor read to name the first bad entry.
 */
export function assertFiniteLogits(logits: tf.Tensor): void {
  const allFinite = tf.tidy(() => tf.all(tf.isFinite(logits)));
  const ok = allFinite.dataSync()[0] === 1;
  allFinite.dispose();
  if (ok) return;
  const [, timeSteps, vocabSize] = logits.shape as [number, number, number];
  const values = logits.dataSync();
  for (let index = 0; index < values.length; index++) {
    if (Number.isFinite(values[index]!)) continue;
    const v = index % vocabSize;
    const position = (index - v) / vocabSize;
    const b = Math.floor(position / timeSteps);
    const t = position % timeSteps;
    throw new NumericalError(
      `logits[${b}][${t}][${v}] is ${values[index]}: the student produced non-finite logits (check the learning rate and inputs)`,
      { tensorName: 'logits', details: { batch: b, time: t, vocab: v } },
    );
  }
}
