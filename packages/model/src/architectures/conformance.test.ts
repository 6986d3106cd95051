// The built-in architectures pass the same conformance suite a user's architecture would.
import { beforeAll } from 'vitest';
import { useBackend } from '../testing/test-backends.js';
import { testArchitecture } from '../testing.js';
import { llamaArchitecture, llamaVariant } from './llama/llama.js';
import { createLlamaFamilyArchitecture } from './llama/llama-family.js';
import { mistralArchitecture } from './mistral/mistral.js';
import { qwen2Architecture } from './qwen2/qwen2.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const sizes = {
  vocabSize: 48,
  hiddenSize: 32,
  intermediateSize: 40,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
};
testArchitecture(llamaArchitecture, { ...sizes, modelType: 'llama', attentionBias: true });
testArchitecture(mistralArchitecture, { ...sizes, modelType: 'mistral', slidingWindow: 4 });
testArchitecture(qwen2Architecture, { ...sizes, modelType: 'qwen2', tieWordEmbeddings: true });
// A user-defined member of the family, registered under its own model_type.
testArchitecture(
  createLlamaFamilyArchitecture({ ...llamaVariant, modelType: 'my_llama', className: 'MyLlamaForCausalLM' }),
  {
    ...sizes,
    modelType: 'my_llama',
  },
);
