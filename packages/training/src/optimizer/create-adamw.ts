import { IntegrityError, InvalidInputError } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import { isDecayParameter } from './is-decay-parameter.js';

/** Options of {@link createAdamW} (`torch.optim.AdamW` names; HF `TrainingArguments` defaults). */
export interface AdamWOptions {
  /** Default 0.9. */
  readonly beta1?: number | undefined;
  /** Default 0.999. */
  readonly beta2?: number | undefined;
  /** Added outside the square root, as torch does. Default 1e-8. */
  readonly epsilon?: number | undefined;
  /** Decoupled weight decay `θ ← θ·(1 − lr·wd)`. Default 0 (HF's `weight_decay` default; torch's is 0.01). */
  readonly weightDecay?: number | undefined;
  /** Which parameters are decayed (default {@link isDecayParameter}: not biases, not norm weights). */
  readonly decay?: ((name: string) => boolean) | undefined;
}

/** The optimizer's state as plain float32 copies: what a checkpoint stores. */
export interface AdamWState {
  /** Updates applied so far (torch's `state['step']`, the same for every parameter). */
  readonly step: number;
  /** First moments `exp_avg` by parameter name. */
  readonly expAvg: ReadonlyMap<string, Float32Array>;
  /** Second moments `exp_avg_sq` by parameter name. */
  readonly expAvgSq: ReadonlyMap<string, Float32Array>;
}

/** An AdamW optimizer over named tfjs variables; see {@link createAdamW}. */
export interface AdamW {
  /** The variables it updates, by name. */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** Names of the variables that receive weight decay. */
  readonly decayed: ReadonlySet<string>;
  /** Updates applied so far. */
  readonly stepCount: number;
  /**
   * One update of every variable with its gradient (by the same name) at `learningRate`.
   * Synchronous; does not dispose `gradients` (the caller owns them).
   */
  step(gradients: ReadonlyMap<string, tf.Tensor>, learningRate: number): void;
  /** The moments (copied off the device) and the step count. */
  exportState(): Promise<AdamWState>;
  /** Restores state from {@link exportState}; refuses other names or shapes (`TRAIN_RESUME_MISMATCH`). */
  loadState(state: AdamWState): void;
  /** Releases the moment tensors (not the variables). */
  dispose(): void;
}

/**
 * AdamW with the exact semantics of `torch.optim.AdamW` (`amsgrad=False`, `maximize=False`):
 * per step `t`, `θ ← θ·(1 − lr·wd)`, `m ← lerp(m, g, 1 − β1)`, `v ← β2·v + (1 − β2)·g²`,
 * `θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)` — decoupled decay, bias correction, `ε`
 * outside the square root. Parameters are grouped by name as the HF Trainer does: no decay on
 * biases and norm weights. Moments are float32 tensors the optimizer owns (call `dispose()`).
 *
 * @example
 * ```ts
 * const optimizer = createAdamW(model.namedTrainableVariables(), { weightDecay: 0.01 });
 * const { grads } = tf.variableGrads(() => clmLoss(model.forward(ids), labels));
 * optimizer.step(new Map(names.map((name) => [name, grads[variables.get(name)!.name]!])), 1e-4);
 * tf.dispose(grads);
 * optimizer.dispose();
 * ```
 */
export function createAdamW(variables: ReadonlyMap<string, tf.Variable>, options: AdamWOptions = {}): AdamW {
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.999;
  const epsilon = options.epsilon ?? 1e-8;
  const weightDecay = options.weightDecay ?? 0;
  const checkRange = (value: number, field: string, ok: boolean) => {
    if (!ok || !Number.isFinite(value)) {
      throw new InvalidInputError(`AdamW ${field} = ${value} is out of range.`, {
        code: 'TRAIN_INVALID_OPTIONS',
        field,
      });
    }
  };
  checkRange(beta1, 'adamBeta1', beta1 >= 0 && beta1 < 1);
  checkRange(beta2, 'adamBeta2', beta2 >= 0 && beta2 < 1);
  checkRange(epsilon, 'adamEpsilon', epsilon >= 0);
  checkRange(weightDecay, 'weightDecay', weightDecay >= 0);
  const decayFilter = options.decay ?? isDecayParameter;
  const decayed = new Set([...variables.keys()].filter((name) => decayFilter(name)));
  const expAvg = new Map<string, tf.Variable>();
  const expAvgSq = new Map<string, tf.Variable>();
  for (const [name, variable] of variables) {
    // tidy frees the zeros; the variables (never tracked by tidy) keep their own data.
    expAvg.set(
      name,
      tf.tidy(() => tf.variable(tf.zerosLike(variable), false)),
    );
    expAvgSq.set(
      name,
      tf.tidy(() => tf.variable(tf.zerosLike(variable), false)),
    );
  }
  let stepCount = 0;

  const optimizer: AdamW = {
    variables,
    decayed,
    get stepCount() {
      return stepCount;
    },
    step(gradients, learningRate) {
      if (!(learningRate >= 0) || !Number.isFinite(learningRate)) {
        throw new InvalidInputError(`learning rate must be a finite number ≥ 0, got ${learningRate}.`, {
          code: 'TRAIN_INVALID_OPTIONS',
          field: 'learningRate',
        });
      }
      for (const name of variables.keys()) {
        if (!gradients.has(name)) {
          throw new InvalidInputError(`AdamW.step got no gradient for "${name}".`, {
            code: 'TRAIN_MISSING_GRADIENT',
            field: name,
          });
        }
      }
      stepCount++;
      const biasCorrection1 = 1 - beta1 ** stepCount;
      const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** stepCount);
      const stepSize = learningRate / biasCorrection1;
      for (const [name, variable] of variables) {
        const gradient = gradients.get(name)!;
        const m = expAvg.get(name)!;
        const v = expAvgSq.get(name)!;
        const decay = decayed.has(name) ? 1 - learningRate * weightDecay : 1;
        tf.tidy(() => {
          const nextM = tf.add(m, tf.mul(tf.sub(gradient, m), 1 - beta1));
          const nextV = tf.add(tf.mul(v, beta2), tf.mul(tf.mul(gradient, gradient), 1 - beta2));
          const denominator = tf.add(tf.div(tf.sqrt(nextV), biasCorrection2Sqrt), epsilon);
          const decayedParameter = decay === 1 ? variable : tf.mul(variable, decay);
          const next = tf.add(decayedParameter, tf.mul(tf.div(nextM, denominator), -stepSize));
          m.assign(nextM);
          v.assign(nextV);
          variable.assign(next);
        });
      }
    },
    async exportState() {
      const read = async (moments: Map<string, tf.Variable>) => {
        const result = new Map<string, Float32Array>();
        for (const [name, tensor] of moments) result.set(name, Float32Array.from(await tensor.data()));
        return result;
      };
      return { step: stepCount, expAvg: await read(expAvg), expAvgSq: await read(expAvgSq) };
    },
    loadState(state) {
      const problems: string[] = [];
      for (const [label, stored, moments] of [
        ['exp_avg', state.expAvg, expAvg],
        ['exp_avg_sq', state.expAvgSq, expAvgSq],
      ] as const) {
        for (const name of moments.keys())
          if (!stored.has(name)) problems.push(`${label} of "${name}" missing`);
        for (const [name, values] of stored) {
          const target = moments.get(name);
          if (target === undefined) problems.push(`${label} of unknown parameter "${name}"`);
          else if (target.size !== values.length)
            problems.push(`${label} of "${name}" has ${values.length} values, the parameter ${target.size}`);
        }
      }
      if (!Number.isInteger(state.step) || state.step < 0) problems.push(`step ${state.step} is not a count`);
      if (problems.length > 0) {
        throw new IntegrityError(
          'TRAIN_RESUME_MISMATCH',
          `The optimizer state does not fit the model's trainable parameters: ${problems.slice(0, 5).join('; ')}${
            problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''
          }. Resume with the model and LoRA settings the checkpoint was trained with.`,
          { details: { problems } },
        );
      }
      for (const [stored, moments] of [
        [state.expAvg, expAvg],
        [state.expAvgSq, expAvgSq],
      ] as const) {
        for (const [name, values] of stored) {
          const target = moments.get(name)!;
          tf.tidy(() => target.assign(tf.tensor(values, target.shape, 'float32')));
        }
      }
      stepCount = state.step;
    },
    dispose() {
      for (const tensor of [...expAvg.values(), ...expAvgSq.values()]) tensor.dispose();
      expAvg.clear();
      expAvgSq.clear();
    },
  };
  return optimizer;
}
