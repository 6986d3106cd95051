import { UnknownNameError } from '@fusechat/core';
import { exactMapper } from './exact/exact-mapper.js';
import { minEditDistanceMapper } from './min-edit-distance/min-edit-distance-mapper.js';
import { statisticsMapper } from './statistics/statistics-mapper.js';
import type { VocabularyMapper } from './vocabulary-mapper.js';

/** The built-in mappers by name: `exact`, `min-edit-distance`, `statistics`. */
export const builtinVocabularyMappers: Readonly<Record<string, VocabularyMapper>> = Object.freeze({
  exact: exactMapper,
  'min-edit-distance': minEditDistanceMapper,
  statistics: statisticsMapper,
});

/** A lookup of mappers by name; a value, not a global. */
export interface VocabularyMapperRegistry {
  /** The mapper of that name; throws `VOCAB_MAP_UNKNOWN_METHOD` listing the known names. */
  get(name: string): VocabularyMapper;
  names(): string[];
}

/**
 * A registry of vocabulary mappers. Pass the built-ins plus your own.
 *
 * @example
 * ```ts
 * const registry = createVocabularyMapperRegistry({ ...builtinVocabularyMappers, mine: myMapper });
 * await buildVocabularyMap(source, pivot, { method: 'mine', registry });
 * ```
 */
export function createVocabularyMapperRegistry(
  mappers: Readonly<Record<string, VocabularyMapper>> = builtinVocabularyMappers,
): VocabularyMapperRegistry {
  const byName = new Map(Object.entries(mappers));
  return {
    get(name: string): VocabularyMapper {
      const mapper = byName.get(name);
      if (mapper === undefined) {
        throw new UnknownNameError('vocabulary mapping method', name, [...byName.keys()], {
          code: 'VOCAB_MAP_UNKNOWN_METHOD',
        });
      }
      return mapper;
    },
    names: () => [...byName.keys()],
  };
}
