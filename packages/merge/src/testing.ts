import { createRandom, isFuseChatError } from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import type { AnyMergeMethod, MergeTensorResult } from './merge-method.js';

/** Options of {@link testMergeMethod}. */
export interface TestMergeMethodOptions {
  /** Global parameters used for every run (required ones must be given). */
  readonly parameters?: Readonly<Record<string, unknown>>;
  /** Per-model parameters given to every model (e.g. `{ weight: 1 }`). */
  readonly perModelParameters?: Readonly<Record<string, unknown>>;
  /** How many models to merge besides the base; default 3 clamped to the method's range. */
  readonly modelCount?: number;
  /** Parameter sets that must be rejected, in addition to the generated wrong-type ones. */
  readonly invalidParameters?: readonly {
    readonly parameters?: Readonly<Record<string, unknown>>;
    readonly perModelParameters?: Readonly<Record<string, unknown>>;
  }[];
  /** Shapes to try; default `[[1], [7], [33, 17], [4, 8, 16]]`. */
  readonly shapes?: readonly (readonly number[])[];
  /** Relative tolerance for the identity check; default 1e-6. */
  readonly tolerance?: number;
}

const NOT_A_VALUE = Object.freeze({ notAParameterValue: true });

/**
 * The conformance suite every merge method passes, built-in or yours (like unstorage's
 * `testDriver`). Call it at the top level of a vitest test file:
 * shape preservation, finite output, identity on identical inputs, determinism under a seed,
 * and parameter validation (wrong types, missing required values, your invalid examples).
 *
 * @example
 * ```ts
 * // my-method.test.ts
 * import { testMergeMethod } from '@fusechat/merge/testing';
 * testMergeMethod(myMethod, { perModelParameters: { weight: 1 }, invalidParameters: [{ parameters: { scale: -1 } }] });
 * ```
 */
export function testMergeMethod(method: AnyMergeMethod, options: TestMergeMethodOptions = {}): void {
  const shapes = options.shapes ?? [[1], [7], [33, 17], [4, 8, 16]];
  const maxModels = method.modelCount.max ?? Number.POSITIVE_INFINITY;
  const modelCount = Math.min(Math.max(options.modelCount ?? 3, method.modelCount.min), maxModels);
  const tolerance = options.tolerance ?? 1e-6;
  const usesBase = method.baseModel !== 'unused';

  const run = (shape: readonly number[], seed: number, identical: boolean) => {
    const length = shape.reduce((a, b) => a * b, 1);
    const random = createRandom(seed);
    const base = random.fillNormal(new Float32Array(length), 0, 0.5);
    const models = Array.from({ length: modelCount }, (_, j) => {
      const tensor = Float32Array.from(base);
      if (!identical) for (let i = 0; i < length; i++) tensor[i] = tensor[i]! + 0.05 * random.normal();
      return {
        model: `model-${j}`,
        tensor,
        parameters: method.parsePerModelParameters({ ...options.parameters, ...options.perModelParameters }),
      };
    });
    const tensorName = `model.layers.0.mlp.up_proj.weight#${shape.join('x')}`;
    const result = method.merge({
      tensorName,
      shape,
      base: usesBase ? Float32Array.from(base) : undefined,
      models,
      parameters: method.parseParameters({ ...options.parameters }),
      random: createRandom(seed).fork(tensorName),
    });
    const output = result instanceof Float32Array ? result : (result as MergeTensorResult).tensor;
    return { base, output, result };
  };

  describe(`merge method "${method.name}" (conformance)`, () => {
    it('has a snake_case name, a description and a sane model count', () => {
      expect(method.name).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(typeof method.description).toBe('string');
      expect(method.modelCount.min).toBeGreaterThanOrEqual(1);
      expect(['required', 'optional', 'unused']).toContain(method.baseModel);
    });

    it('preserves the shape and returns finite float32 values', () => {
      for (const shape of shapes) {
        const { output, result } = run(shape, 1, false);
        expect(output).toBeInstanceOf(Float32Array);
        expect(output.length).toBe(shape.reduce((a, b) => a * b, 1));
        for (const value of output) expect(Number.isFinite(value)).toBe(true);
        if (!(result instanceof Float32Array) && result.weights !== undefined) {
          expect(result.weights).toHaveLength(modelCount);
        }
      }
    });

    it('returns that model when every input is identical', () => {
      for (const shape of shapes) {
        const { base, output } = run(shape, 2, true);
        for (let i = 0; i < base.length; i++) {
          expect(Math.abs(output[i]! - base[i]!)).toBeLessThanOrEqual(
            tolerance * Math.max(1, Math.abs(base[i]!)),
          );
        }
      }
    });

    it('is deterministic under a seed', () => {
      for (const shape of shapes) {
        expect([...run(shape, 3, false).output]).toEqual([...run(shape, 3, false).output]);
      }
    });

    it('validates its parameters', () => {
      const expectRejected = (parse: () => unknown, what: string) => {
        let error: unknown;
        try {
          parse();
        } catch (caught) {
          error = caught;
        }
        expect(error, `${method.name} accepted ${what}`).toBeDefined();
        expect(isFuseChatError(error), `${method.name} threw a non-FuseChatError for ${what}`).toBe(true);
      };
      const globals = { ...options.parameters };
      const perModel = { ...options.parameters, ...options.perModelParameters };
      expect(() => method.parseParameters(globals)).not.toThrow();
      expect(() => method.parsePerModelParameters(perModel)).not.toThrow();
      for (const name of Object.keys(method.parameters)) {
        expectRejected(
          () => method.parseParameters({ ...globals, [name]: NOT_A_VALUE }),
          `an object as global "${name}"`,
        );
        if (!method.parameters[name]!.safeParse(undefined).success) {
          expectRejected(
            () => method.parseParameters({ ...globals, [name]: undefined }),
            `a missing required "${name}"`,
          );
        }
      }
      for (const name of Object.keys(method.perModelParameters)) {
        expectRejected(
          () => method.parsePerModelParameters({ ...perModel, [name]: NOT_A_VALUE }),
          `an object as per-model "${name}"`,
        );
        if (!method.perModelParameters[name]!.safeParse(undefined).success) {
          expectRejected(
            () => method.parsePerModelParameters({ ...perModel, [name]: undefined }),
            `a missing required "${name}"`,
          );
        }
      }
      for (const invalid of options.invalidParameters ?? []) {
        expectRejected(() => {
          method.parseParameters({ ...globals, ...invalid.parameters });
          method.parsePerModelParameters({
            ...perModel,
            ...invalid.parameters,
            ...invalid.perModelParameters,
          });
        }, JSON.stringify(invalid));
      }
    });
  });
}
