import { InvalidInputError, UnknownNameError } from '@fusechat/core';
import type { AnyMergeMethod } from './merge-method.js';

/** A read-only set of merge methods by name. A value, never global state. */
export interface MergeRegistry {
  /** The method called `name`; throws `UnknownNameError` listing the known names. */
  get(name: string): AnyMergeMethod;
  has(name: string): boolean;
  /** Known method names, sorted. */
  names(): string[];
}

/**
 * Builds a registry from methods keyed by anything (the method's own `name` is what configs use).
 *
 * @example
 * ```ts
 * const registry = createMergeRegistry({ ...builtinMergeMethods, myMethod });
 * registry.get('variation_ratio').merge(…);
 * await mergeModels(config, { out: 'merged', registry });
 * ```
 */
export function createMergeRegistry(methods: Readonly<Record<string, AnyMergeMethod>>): MergeRegistry {
  const byName = new Map<string, AnyMergeMethod>();
  for (const method of Object.values(methods)) {
    const existing = byName.get(method.name);
    if (existing !== undefined && existing !== method) {
      throw new InvalidInputError(`Two different merge methods are both named "${method.name}".`, {
        code: 'MERGE_METHOD_DUPLICATE',
        details: { name: method.name },
      });
    }
    byName.set(method.name, method);
  }
  const names = [...byName.keys()].sort();
  return Object.freeze({
    get(name: string) {
      const method = byName.get(name);
      if (method === undefined)
        throw new UnknownNameError('merge method', name, names, { code: 'MERGE_METHOD_UNKNOWN' });
      return method;
    },
    has: (name: string) => byName.has(name),
    names: () => [...names],
  });
}
