// An independent float64 transcription of the update rules the loop implements, for tests:
// torch.optim.AdamW (`_single_tensor_adamw`, amsgrad off), the HF schedule lambdas
// (transformers/optimization.py), torch.nn.utils.clip_grad_norm_ and HF ≥ 4.46 gradient
// accumulation (each micro-batch's mean loss weighted by its share of the step's supervised
// positions). Plain loops over Float64Arrays; nothing shared with the implementation.

export interface ReferenceAdamWOptions {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  /** Names that get weight decay. */
  readonly decayed: ReadonlySet<string>;
}

export interface ReferenceAdamW {
  readonly expAvg: Map<string, Float64Array>;
  readonly expAvgSq: Map<string, Float64Array>;
  /** One update of `params` (returned as new arrays; inputs untouched). */
  step(
    params: ReadonlyMap<string, Float64Array>,
    grads: ReadonlyMap<string, Float64Array>,
    lr: number,
  ): Map<string, Float64Array>;
}

export function createReferenceAdamW(options: ReferenceAdamWOptions): ReferenceAdamW {
  const expAvg = new Map<string, Float64Array>();
  const expAvgSq = new Map<string, Float64Array>();
  let t = 0;
  return {
    expAvg,
    expAvgSq,
    step(params, grads, lr) {
      t += 1;
      const out = new Map<string, Float64Array>();
      for (const [name, p0] of params) {
        const g = grads.get(name)!;
        if (!expAvg.has(name)) {
          expAvg.set(name, new Float64Array(p0.length));
          expAvgSq.set(name, new Float64Array(p0.length));
        }
        const m = expAvg.get(name)!;
        const v = expAvgSq.get(name)!;
        const wd = options.decayed.has(name) ? options.weightDecay : 0;
        const p = Float64Array.from(p0);
        const bias1 = 1 - options.beta1 ** t;
        const bias2 = 1 - options.beta2 ** t;
        for (let i = 0; i < p.length; i++) {
          p[i] = p[i]! * (1 - lr * wd);
          m[i] = m[i]! + (g[i]! - m[i]!) * (1 - options.beta1);
          v[i] = v[i]! * options.beta2 + (1 - options.beta2) * g[i]! * g[i]!;
          const denom = Math.sqrt(v[i]!) / Math.sqrt(bias2) + options.epsilon;
          p[i] = p[i]! - (lr / bias1) * (m[i]! / denom);
        }
        out.set(name, p);
      }
      return out;
    },
  };
}

/** HF `_get_{linear,cosine,constant,constant_with_warmup}_schedule…_lr_lambda`, times `peak`. */
export function referenceLearningRate(
  schedule: 'linear' | 'cosine' | 'constant' | 'constant_with_warmup',
  currentStep: number,
  peak: number,
  numWarmupSteps: number,
  numTrainingSteps: number,
): number {
  let factor: number;
  if (schedule === 'constant') factor = 1;
  else if (currentStep < numWarmupSteps) factor = currentStep / Math.max(1, numWarmupSteps);
  else if (schedule === 'constant_with_warmup') factor = 1;
  else if (schedule === 'linear')
    factor = Math.max(0, (numTrainingSteps - currentStep) / Math.max(1, numTrainingSteps - numWarmupSteps));
  else {
    const progress = (currentStep - numWarmupSteps) / Math.max(1, numTrainingSteps - numWarmupSteps);
    factor = Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
  }
  return peak * factor;
}

/** `torch.nn.utils.clip_grad_norm_` (L2): scales `grads` in place; returns the total norm before clipping. */
export function referenceClipGradNorm(grads: Map<string, Float64Array>, maxNorm: number | null): number {
  let squares = 0;
  for (const g of grads.values()) {
    let own = 0;
    for (const x of g) own += x * x;
    squares += own;
  }
  const total = Math.sqrt(squares);
  if (maxNorm !== null && maxNorm > 0) {
    const coefficient = Math.min(1, maxNorm / (total + 1e-6));
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] = g[i]! * coefficient;
  }
  return total;
}

/** `Σ_i (n_i / N) · g_i`: micro-batch gradients of mean losses, weighted by supervised positions. */
export function referenceAccumulate(
  microGradients: readonly ReadonlyMap<string, Float64Array>[],
  supervised: readonly number[],
): Map<string, Float64Array> {
  const total = supervised.reduce((a, b) => a + b, 0);
  const out = new Map<string, Float64Array>();
  microGradients.forEach((grads, i) => {
    const weight = total === 0 ? 0 : supervised[i]! / total;
    for (const [name, g] of grads) {
      if (!out.has(name)) out.set(name, new Float64Array(g.length));
      const sum = out.get(name)!;
      for (let j = 0; j < g.length; j++) sum[j] = sum[j]! + weight * g[j]!;
    }
  });
  return out;
}

/** Largest `|a − b| / (atol + rtol·|b|)` over all entries (≤ 1 means within tolerance). */
export function worstRelativeError(
  actual: ReadonlyMap<string, ArrayLike<number>>,
  expected: ReadonlyMap<string, ArrayLike<number>>,
  atol: number,
  rtol: number,
): { ratio: number; name: string; index: number } {
  let worst = { ratio: 0, name: '', index: -1 };
  for (const [name, b] of expected) {
    const a = actual.get(name);
    if (a === undefined || a.length !== b.length) return { ratio: Number.POSITIVE_INFINITY, name, index: -1 };
    for (let i = 0; i < b.length; i++) {
      const ratio = Math.abs(a[i]! - b[i]!) / (atol + rtol * Math.abs(b[i]!));
      if (!(ratio <= worst.ratio))
        worst = { ratio: Number.isNaN(ratio) ? Number.POSITIVE_INFINITY : ratio, name, index: i };
    }
  }
  return worst;
}
