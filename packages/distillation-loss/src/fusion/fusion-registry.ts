import { InvalidInputError, UnknownNameError } from '@fusechat/core';
import { avgCE } from './avg-ce/avg-ce.js';
import type { FusionFunction } from './fusion-function.js';
import { minCE } from './min-ce/min-ce.js';

/** The fusion functions that ship with the package, by registry name. */
export const builtinFusionFunctions = Object.freeze({ min_ce: minCE, avg_ce: avgCE });

/** A lookup table of fusion functions. A value: build as many as you like. */
export interface FusionRegistry {
  /** The function registered under `name`; throws an `UnknownNameError` listing the known names. */
  get(name: string): FusionFunction;
  has(name: string): boolean;
  readonly names: readonly string[];
}

/**
 * Builds a registry from a name → function record (the key is the lookup name).
 *
 * @example
 * ```ts
 * const registry = createFusionRegistry({ ...builtinFusionFunctions, pivot_only: pivotOnly });
 * registry.get('min_ce');   // minCE
 * registry.get('min-ce');   // UnknownNameError: Unknown fusion function "min-ce". Did you mean "min_ce"? Known: …
 * ```
 */
export function createFusionRegistry(functions: Readonly<Record<string, FusionFunction>>): FusionRegistry {
  const table = new Map<string, FusionFunction>();
  for (const [name, fusion] of Object.entries(functions)) {
    if (typeof fusion?.fuse !== 'function') {
      throw new InvalidInputError(
        `fusion function "${name}" must have a fuse() method (build it with defineFusionFunction)`,
        {
          field: name,
        },
      );
    }
    table.set(name, fusion);
  }
  const names = Object.freeze([...table.keys()]);
  return {
    names,
    has: (name) => table.has(name),
    get(name) {
      const fusion = table.get(name);
      if (fusion === undefined) throw new UnknownNameError('fusion function', name, names);
      return fusion;
    },
  };
}
