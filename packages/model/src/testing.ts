import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { Architecture } from './architectures/architecture.js';
import { createArchitectureRegistry, defaultArchitectures } from './architectures/architecture-registry.js';
import type { ModelConfigInput } from './config/model-config.js';
import { generate } from './generation/generate.js';
import { loadModel } from './io/load-model.js';
import { saveModel } from './io/save-model.js';
import { createModel } from './model/create-model.js';

/** Options of {@link testArchitecture}. */
export interface TestArchitectureOptions {
  /** Seed of the random model (default 1). */
  readonly seed?: number;
  /** Relative tolerance of the padding and cache checks (default 1e-5). */
  readonly tolerance?: number;
}

function relativeDifference(actual: number[][], expected: number[][]): number {
  let difference = 0;
  let norm = 0;
  for (const [t, row] of expected.entries()) {
    for (const [v, value] of row.entries()) {
      difference += (actual[t]![v]! - value) ** 2;
      norm += value ** 2;
    }
  }
  return Math.sqrt(difference / Math.max(norm, 1e-30));
}

/**
 * The conformance suite every architecture passes, built-in or yours (like unstorage's
 * `testDriver`). Call it at the top level of a vitest file, after choosing a tfjs backend:
 * unique weight names, `config.json` round trip, logits shape and finiteness, invariance of real
 * tokens' logits under left/right padding, KV-cache generation equal to full recomputation,
 * a finite gradient for every weight, and an exact save → load round trip.
 *
 * @example
 * ```ts
 * // my-architecture.test.ts
 * import '@tensorflow/tfjs-backend-cpu';
 * import { testArchitecture } from '@fusechat/model/testing';
 * testArchitecture(myArchitecture, { modelType: 'my_llama', vocabSize: 64, hiddenSize: 32,
 *   intermediateSize: 48, numHiddenLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 2 });
 * ```
 */
export function testArchitecture(
  architecture: Architecture,
  input: ModelConfigInput,
  options: TestArchitectureOptions = {},
): void {
  const registry = createArchitectureRegistry({
    ...defaultArchitectures,
    [architecture.modelType]: architecture,
  });
  const seed = options.seed ?? 1;
  const tolerance = options.tolerance ?? 1e-5;
  const make = () =>
    createModel(
      { ...input, initializerRange: input.initializerRange ?? 0.2 },
      { seed, architectures: registry },
    );
  const tokens = Array.from({ length: 6 }, (_, i) => (i * 7 + 3) % input.vocabSize);

  describe(`architecture conformance: ${architecture.modelType}`, () => {
    it('declares unique weights with positive shapes and round-trips config.json', () => {
      const config = architecture.createConfig(input);
      const specs = architecture.weightSpecs(config);
      expect(new Set(specs.map((spec) => spec.name)).size).toBe(specs.length);
      for (const spec of specs)
        expect(
          spec.shape.every((size) => Number.isInteger(size) && size > 0),
          spec.name,
        ).toBe(true);
      const reparsed = architecture.parseConfig(architecture.toHfConfig(config));
      expect({ ...reparsed, raw: undefined }).toEqual({ ...config, raw: undefined });
    });

    it('produces finite logits [batch, time, vocab] that padding does not change', async () => {
      const model = make();
      try {
        const alone = await model.logits([tokens], undefined, { output: 'array' });
        expect([alone.length, alone[0]!.length, alone[0]![0]!.length]).toEqual([
          1,
          tokens.length,
          input.vocabSize,
        ]);
        expect(alone.flat(2).every(Number.isFinite)).toBe(true);
        const padded = await model.logits(
          [
            [0, 0, ...tokens],
            [...tokens, 0, 0],
          ],
          [
            [0, 0, 1, 1, 1, 1, 1, 1],
            [1, 1, 1, 1, 1, 1, 0, 0],
          ],
          { output: 'array' },
        );
        expect(relativeDifference(padded[0]!.slice(2), alone[0]!)).toBeLessThan(tolerance);
        expect(relativeDifference(padded[1]!.slice(0, tokens.length), alone[0]!)).toBeLessThan(tolerance);
      } finally {
        model.dispose();
      }
    });

    it('generates with a KV cache exactly what full recomputation gives', async () => {
      const model = make();
      try {
        const { tokens: generated } = await generate(model, tokens.slice(0, 3), {
          maxNewTokens: 5,
          stopTokens: [],
        });
        const sequence = tokens.slice(0, 3);
        for (let i = 0; i < 5; i++) {
          const logits = await model.logits([sequence], undefined, { output: 'array' });
          const last = logits[0]![sequence.length - 1]!;
          sequence.push(last.indexOf(Math.max(...last)));
        }
        expect(generated).toEqual(sequence.slice(3));
      } finally {
        model.dispose();
      }
    });

    it('has a finite gradient for every weight', () => {
      const model = make();
      try {
        const ids = tf.tensor2d([tokens], [1, tokens.length], 'int32');
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(model.forward(ids))) as tf.Scalar);
        const names = new Map([...model.weights].map(([name, variable]) => [variable.name, name]));
        expect(Object.keys(grads).length).toBe(model.weights.size);
        for (const [variable, gradient] of Object.entries(grads)) {
          expect(Array.from(gradient.dataSync()).every(Number.isFinite), names.get(variable)).toBe(true);
        }
        tf.dispose([ids, value, ...Object.values(grads)]);
      } finally {
        model.dispose();
      }
    });

    it('saves and loads back exactly', async () => {
      const model = make();
      const dir = await mkdtemp(join(tmpdir(), 'fusechat-architecture-'));
      try {
        await saveModel(model, dir);
        const loaded = await loadModel(dir, { architectures: registry });
        try {
          for (const [name, variable] of model.weights) {
            expect(Array.from(loaded.weights.get(name)!.dataSync()), name).toEqual(
              Array.from(variable.dataSync()),
            );
          }
        } finally {
          loaded.dispose();
        }
      } finally {
        model.dispose();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
