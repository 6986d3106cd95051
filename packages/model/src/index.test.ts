import { describe, expect, it } from 'vitest';
import * as api from './index.js';

describe('public API', () => {
  it('exports the promised entry points and building blocks', () => {
    for (const name of [
      'loadModel',
      'saveModel',
      'createModel',
      'generate',
      'generateBatch',
      'evaluatePerplexity',
      'applyLora',
      'mergeLora',
      'saveLoraAdapter',
      'loadLoraAdapter',
      'createArchitectureRegistry',
      'createLlamaFamilyArchitecture',
      'readModelConfig',
      'linear',
      'embeddingLookup',
      'causalAttention',
      'groupedQueryAttention',
      'rmsNorm',
      'swiglu',
      'applyRotary',
      'createAttentionLayout',
      'attentionBiasValues',
      'sampleToken',
    ]) {
      expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(Object.keys(api.defaultArchitectures)).toEqual(['llama', 'mistral', 'qwen2']);
  });
});
