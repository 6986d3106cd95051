import { createRandom, FuseChatError, NumericalError } from '@fusechat/core';
import { meanSquaredDifference } from '../kernels/weighted-sum.js';
import type { AnyMergeMethod, MergeTensorInput, MergeTensorResult, StreamingPass } from '../merge-method.js';

/** One tensor's merge job, the same on the main thread and in a worker. */
export interface TensorJob {
  readonly tensorName: string;
  readonly shape: readonly number[];
  readonly numel: number;
  readonly seed: number;
  /** Base first when `hasBase`, then the models. */
  readonly inputs: readonly Float32Array[];
  readonly hasBase: boolean;
  readonly models: readonly string[];
  readonly parameters: unknown;
  readonly perModel: readonly unknown[];
  /**
   * The models' mean squared change against the base when the engine already computed it (while
   * reading); otherwise computed here for methods that do not report it.
   */
  readonly changeMeanSquare?: readonly number[] | undefined;
}

/** The merged tensor with what the report needs. */
export interface TensorJobResult {
  readonly output: Float32Array;
  readonly weights?: readonly number[] | undefined;
  readonly changeMeanSquare?: readonly number[] | undefined;
}

/** A tensor job's method input, built before the inputs are read, and the method's streaming pass. */
export interface PreparedTensorJob {
  readonly input: MergeTensorInput<unknown, unknown>;
  readonly pass: StreamingPass | undefined;
}

/**
 * Builds the method's input for a job whose input arrays are allocated but maybe not filled yet,
 * and starts the method's streaming pass (if any); the caller advances it as the reads arrive.
 */
export function prepareTensorJob(method: AnyMergeMethod, job: TensorJob): PreparedTensorJob {
  const base = job.hasBase ? job.inputs[0] : undefined;
  const modelTensors = job.hasBase ? job.inputs.slice(1) : job.inputs;
  const input: MergeTensorInput<unknown, unknown> = {
    tensorName: job.tensorName,
    shape: job.shape,
    base,
    models: modelTensors.map((tensor, j) => ({ model: job.models[j]!, tensor, parameters: job.perModel[j] })),
    parameters: job.parameters,
    random: createRandom(job.seed).fork(job.tensorName),
  };
  return { input, pass: method.beginStreamingPass?.(input) };
}

/**
 * Runs a method on one tensor: the models' mean squared change against the base (for the
 * report, and handed to the method), the merge, and a check that the output is finite and whole.
 * `prepared` comes from {@link prepareTensorJob} with its pass advanced over every element;
 * without it the pass (if any) runs here in one go.
 */
export function runTensorJob(
  method: AnyMergeMethod,
  job: TensorJob,
  prepared?: PreparedTensorJob,
): TensorJobResult {
  let ready = prepared;
  if (ready === undefined) {
    ready = prepareTensorJob(method, job);
    ready.pass?.advance(0, job.numel);
  }
  const { input, pass } = ready;
  const base = input.base;
  const engineChange =
    base && !method.reportsChange
      ? (job.changeMeanSquare ?? input.models.map((model) => meanSquaredDifference(model.tensor, base)))
      : undefined;
  const result = method.merge({ ...input, changeMeanSquare: engineChange, streamingPass: pass });
  const output = result instanceof Float32Array ? result : (result as MergeTensorResult).tensor;
  const weights = result instanceof Float32Array ? undefined : (result as MergeTensorResult).weights;
  const reported =
    result instanceof Float32Array ? undefined : (result as MergeTensorResult).changeMeanSquare;
  const changeMeanSquare = engineChange ?? (base ? reported : undefined);
  if (output.length !== job.numel) {
    throw new FuseChatError(
      'MERGE_METHOD_BAD_OUTPUT',
      `${method.name} returned ${output.length} values for ${job.tensorName}, expected ${job.numel}.`,
      { details: { tensorName: job.tensorName } },
    );
  }
  const allFinite = result instanceof Float32Array ? false : (result as MergeTensorResult).allFinite === true;
  // A method that checked its own output (fused into its last pass) saves this scan.
  if (!allFinite)
    for (let i = 0; i < output.length; i++) {
      const value = output[i]!;
      // value - value is NaN exactly for NaN and ±Infinity: one cheap test per element.
      if (value - value !== 0) {
        throw new NumericalError(
          `Merging ${job.tensorName} with ${method.name} produced a non-finite value at element ${i}; check the inputs for NaN/Inf and the parameters for extreme values.`,
          { code: 'MERGE_NON_FINITE', tensorName: job.tensorName, details: { index: i } },
        );
      }
    }
  return { output, weights: weights ? [...weights] : undefined, changeMeanSquare };
}
