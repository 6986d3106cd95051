import type * as tf from '@tensorflow/tfjs-core';
import { expectTypeOf, test } from 'vitest';
import type { CausalLM } from './causal-lm.js';

test('logits resolves to a tensor by default and to nested numbers with output: array', () => {
  const model = {} as CausalLM;
  expectTypeOf(model.logits([[1, 2]])).resolves.toEqualTypeOf<tf.Tensor3D>();
  expectTypeOf(model.logits([[1, 2]], undefined, { output: 'tensor' })).resolves.toEqualTypeOf<tf.Tensor3D>();
  expectTypeOf(model.logits([[1, 2]], [[1, 1]], { output: 'array' })).resolves.toEqualTypeOf<number[][][]>();
  expectTypeOf(model.forward).returns.toEqualTypeOf<tf.Tensor3D>();
  expectTypeOf(model.trainableVariables()).toEqualTypeOf<tf.Variable[]>();
});
