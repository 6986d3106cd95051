import {
  createRandom,
  createSparseDistributions,
  getRow,
  isFuseChatError,
  type Random,
  type SparseDistributions,
  setRow,
} from '@fusechat/core';
import { describe, expect, it } from 'vitest';
import type { FusionFunction, FusionTeacher } from './fusion/fusion-function.js';

/** Options of {@link testFusionFunction}. */
export interface TestFusionFunctionOptions {
  /** Random examples to try; default 50. */
  readonly examples?: number;
  /** Largest number of sources besides the pivot; default 3. */
  readonly maxSources?: number;
  /** Seed of the generated examples; default 1. */
  readonly seed?: number;
}

function randomDistributions(random: Random, length: number, k: number, vocab: number): SparseDistributions {
  const distributions = createSparseDistributions(length, k);
  for (let position = 0; position < length; position++) {
    const count = random.int(k + 1);
    const ids = Array.from({ length: count }, () => (random.float() < 0.1 ? -1 : random.int(vocab)));
    if (count > 1 && random.float() < 0.3) ids[count - 1] = ids[0]!; // a duplicate id
    const logits = Array.from({ length: count }, (_, slot) => 4 - slot + random.normal());
    setRow(distributions, position, ids, logits);
  }
  return distributions;
}

function randomTeachers(random: Random, maxSources: number): FusionTeacher[] {
  const length = random.int(7);
  const vocab = 3 + random.int(20);
  const teachers = 1 + random.int(maxSources + 1);
  return Array.from({ length: teachers }, (_, index) => ({
    name: index === 0 ? 'pivot' : `source-${index}`,
    distributions: randomDistributions(random, length, 1 + random.int(5), vocab),
    ce: random.float() < 0.1 ? Number.NaN : random.float() * 4,
  }));
}

function snapshot(teachers: readonly FusionTeacher[]): unknown {
  return teachers.map((teacher) => ({
    ce: teacher.ce,
    ids: Array.from(teacher.distributions.ids),
    logits: Array.from(teacher.distributions.logits),
  }));
}

/**
 * The conformance suite every fusion function passes, built-in or yours (like unstorage's
 * `testDriver`). Call it at the top level of a vitest file. On random examples (padding,
 * duplicate ids, empty rows, NaN CEs, 1–4 teachers) it checks: one row per pivot position; no
 * duplicate ids and no NaN/+∞ logits in the output; only ids some teacher listed at that position;
 * teacher weights finite, ≥ 0 and summing to 1; determinism; inputs left untouched; `k`
 * honoured; a `temperature` applied to the teachers before fusion (a lone pivot at T gives
 * `softmax(logits / T)`); a source of the wrong length rejected with a FuseChatError.
 *
 * @example
 * ```ts
 * // my-fusion.test.ts
 * import { testFusionFunction } from '@fusechat/distillation-loss/testing';
 * testFusionFunction(myFusion);
 * ```
 */
export function testFusionFunction(fusion: FusionFunction, options: TestFusionFunctionOptions = {}): void {
  const examples = options.examples ?? 50;
  const maxSources = options.maxSources ?? 3;
  const seed = options.seed ?? 1;

  describe(`fusion function "${fusion.name}" (conformance)`, () => {
    it('has a name and a description', () => {
      expect(fusion.name).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(typeof fusion.description).toBe('string');
    });

    it('returns valid, deterministic targets and leaves its input untouched', () => {
      const random = createRandom(seed);
      for (let example = 0; example < examples; example++) {
        const teachers = randomTeachers(random, maxSources);
        const before = snapshot(teachers);
        const result = fusion.fuse(teachers);
        expect(snapshot(teachers)).toEqual(before);
        const again = fusion.fuse(teachers);
        expect(Array.from(again.distributions.ids)).toEqual(Array.from(result.distributions.ids));
        expect(Array.from(again.distributions.logits)).toEqual(Array.from(result.distributions.logits));

        const length = teachers[0]!.distributions.length;
        expect(result.distributions.length).toBe(length);
        expect(result.teacherWeights).toHaveLength(teachers.length);
        for (const weight of result.teacherWeights) {
          expect(Number.isFinite(weight) && weight >= 0).toBe(true);
        }
        expect(result.teacherWeights.reduce((sum, weight) => sum + weight, 0)).toBeCloseTo(1, 9);
        for (let position = 0; position < length; position++) {
          const row = getRow(result.distributions, position);
          expect(new Set(row.ids).size).toBe(row.ids.length);
          for (const logit of row.logits)
            expect(Number.isNaN(logit) || logit === Number.POSITIVE_INFINITY).toBe(false);
          const offered = new Set(teachers.flatMap((teacher) => getRow(teacher.distributions, position).ids));
          for (const id of row.ids) expect(offered.has(id)).toBe(true);
        }
      }
    });

    it('honours k', () => {
      const random = createRandom(seed + 1);
      for (let example = 0; example < 10; example++) {
        const teachers = randomTeachers(random, maxSources);
        for (const k of [1, 3]) {
          const result = fusion.fuse(teachers, { k });
          expect(result.distributions.k).toBe(k);
        }
      }
    });

    it('fuses tempered teachers: a lone pivot at temperature T gives softmax(logits / T)', () => {
      const random = createRandom(seed + 2);
      for (let example = 0; example < 10; example++) {
        const pivot = randomTeachers(random, 0)[0]!;
        const temperature = 0.5 + 2 * random.float();
        const result = fusion.fuse([pivot], { temperature });
        for (let position = 0; position < pivot.distributions.length; position++) {
          const row = getRow(result.distributions, position);
          // Expected: softmax(first-occurrence logits / T), renormalised over the ids kept in the output.
          const kept = new Map<number, number>();
          const input = getRow(pivot.distributions, position);
          input.ids.forEach((id, slot) => {
            if (!kept.has(id)) kept.set(id, input.logits[slot]! / temperature);
          });
          const outMax = Math.max(...row.logits);
          const outTotal = row.logits.reduce((sum, logit) => sum + Math.exp(logit - outMax), 0);
          const inMax = Math.max(...row.ids.map((id) => kept.get(id)!));
          const inTotal = row.ids.reduce((sum, id) => sum + Math.exp(kept.get(id)! - inMax), 0);
          row.ids.forEach((id, slot) => {
            expect(kept.has(id)).toBe(true);
            expect(Math.exp(row.logits[slot]! - outMax) / outTotal).toBeCloseTo(
              Math.exp(kept.get(id)! - inMax) / inTotal,
              5,
            );
          });
        }
      }
      expect(() => fusion.fuse([randomTeachers(random, 0)[0]!], { temperature: -1 })).toThrow(/temperature/);
    });

    it('rejects a source with a different number of positions', () => {
      const pivot = createSparseDistributions(3, 2);
      const source = createSparseDistributions(2, 2);
      let thrown: unknown;
      try {
        fusion.fuse([
          { distributions: pivot, ce: 1 },
          { distributions: source, ce: 1 },
        ]);
      } catch (error) {
        thrown = error;
      }
      expect(isFuseChatError(thrown)).toBe(true);
    });
  });
}
