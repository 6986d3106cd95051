import { UnknownNameError } from '@fusechat/core';
import type { Architecture } from './architecture.js';
import { llamaArchitecture } from './llama/llama.js';
import { mistralArchitecture } from './mistral/mistral.js';
import { qwen2Architecture } from './qwen2/qwen2.js';

/** Architectures keyed by Hugging Face `model_type`. */
export interface ArchitectureRegistry {
  /** The architecture for `modelType`; throws `UnknownNameError` listing the known ones. */
  get(modelType: string): Architecture;
  has(modelType: string): boolean;
  names(): string[];
}

/** The built-in architectures: `llama`, `mistral`, `qwen2`. */
export const defaultArchitectures: Readonly<Record<string, Architecture>> = Object.freeze({
  llama: llamaArchitecture,
  mistral: mistralArchitecture,
  qwen2: qwen2Architecture,
});

/**
 * A registry value (no global state) of architectures by `model_type`.
 *
 * @example
 * ```ts
 * const registry = createArchitectureRegistry({ ...defaultArchitectures, mine: myArchitecture });
 * registry.get('mine');
 * registry.get('gpt2'); // throws UnknownNameError: Unknown architecture (model_type) "gpt2". Known: llama, mistral, qwen2, mine.
 * ```
 */
export function createArchitectureRegistry(
  architectures: Readonly<Record<string, Architecture>>,
): ArchitectureRegistry {
  const entries = new Map(Object.entries(architectures));
  return {
    get(modelType) {
      const found = entries.get(modelType);
      if (found === undefined) {
        throw new UnknownNameError('architecture (model_type)', modelType, [...entries.keys()], {
          code: 'MODEL_UNKNOWN_ARCHITECTURE',
        });
      }
      return found;
    },
    has: (modelType) => entries.has(modelType),
    names: () => [...entries.keys()],
  };
}

/** The registry of {@link defaultArchitectures}, used when no registry is passed. */
export const defaultArchitectureRegistry: ArchitectureRegistry =
  createArchitectureRegistry(defaultArchitectures);
