import { expectTypeOf, test } from 'vitest';
import { z } from 'zod';
import { defineMergeMethod } from './define-merge-method.js';
import type { MergeMethod } from './merge-method.js';

test('defineMergeMethod infers parameter types from the zod schemas', () => {
  const method = defineMergeMethod({
    name: 'typed',
    parameters: { lambda: z.number().default(1), mode: z.enum(['a', 'b']) },
    perModelParameters: { weight: z.number(), enabled: z.boolean().default(true) },
    merge({ parameters, models, base }) {
      expectTypeOf(parameters.lambda).toEqualTypeOf<number>();
      expectTypeOf(parameters.mode).toEqualTypeOf<'a' | 'b'>();
      expectTypeOf(models[0]!.parameters.weight).toEqualTypeOf<number>();
      expectTypeOf(models[0]!.parameters.enabled).toEqualTypeOf<boolean>();
      expectTypeOf(base).toEqualTypeOf<Float32Array | undefined>();
      return base!;
    },
  });
  expectTypeOf(method).toMatchTypeOf<
    MergeMethod<{ lambda: number; mode: 'a' | 'b' }, { weight: number; enabled: boolean }>
  >();
  expectTypeOf(method.parseParameters({})).toEqualTypeOf<{ lambda: number; mode: 'a' | 'b' }>();
});
