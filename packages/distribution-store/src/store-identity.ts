import { IntegrityError } from '@fusechat/core';
import { canonicalJson } from './canonical-json.js';

/** Everything a consumer checks before using a store: which model, tokenizer, data and options made it. */
export interface StoreIdentity {
  /** `configHash`: sha256 of the model's `config.json` bytes (or a provider id for remote models). */
  model: { name: string; configHash: string };
  /** `hash`: `TokenizerLike.hash`. */
  tokenizer: { hash: string; vocabSize: number };
  /** `hash`: sha256 of the data file bytes. */
  data: { hash: string };
  /** sha256 of the chat template text, `null` when none was used. */
  chatTemplateHash: string | null;
  /** Capture options that change the content: k, maxLength, truncation, valueKind ('logits' | 'logprobs')… */
  capture: Record<string, string | number | boolean | null>;
  /** Set on an aligned store: a source store re-indexed onto a pivot store's positions and vocabulary. */
  aligned?:
    | {
        /** The pivot store's `contentHash`. */
        pivotStore: string;
        /** The source store's `contentHash`. */
        sourceStore: string;
        vocabularyMapHash: string;
        mapping: string;
      }
    | undefined;
}

/**
 * What {@link checkStoreIdentity} compares: any subset of {@link StoreIdentity}, to any depth.
 * `aligned: null` requires a store that is not aligned.
 */
export type StoreIdentityExpectation = {
  model?: Partial<StoreIdentity['model']>;
  tokenizer?: Partial<StoreIdentity['tokenizer']>;
  data?: Partial<StoreIdentity['data']>;
  chatTemplateHash?: string | null;
  capture?: StoreIdentity['capture'];
  aligned?: Partial<NonNullable<StoreIdentity['aligned']>> | null;
};

/** One field that differs between two identities (dotted path, e.g. `tokenizer.hash`). */
export interface IdentityDifference {
  field: string;
  expected: unknown;
  actual: unknown;
}

/**
 * The fields where `actual` differs from `expected`, comparing only what `expected` names (leaves
 * by strict equality; `null` in `expected` requires `null` or absence in `actual`).
 *
 * @example
 * ```ts
 * identityDifferences(manifest.identity, { tokenizer: { hash: 'abc' } });
 * // [{ field: 'tokenizer.hash', expected: 'abc', actual: 'def' }]
 * ```
 */
export function identityDifferences(actual: unknown, expected: unknown, prefix = ''): IdentityDifference[] {
  if (expected === undefined) return [];
  if (expected === null)
    return actual === null || actual === undefined ? [] : [{ field: prefix, expected, actual }];
  if (typeof expected !== 'object' || Array.isArray(expected)) {
    return Object.is(actual, expected) ? [] : [{ field: prefix, expected, actual }];
  }
  if (actual === null || typeof actual !== 'object') return [{ field: prefix, expected, actual }];
  const differences: IdentityDifference[] = [];
  for (const key of Object.keys(expected).sort()) {
    differences.push(
      ...identityDifferences(
        (actual as Record<string, unknown>)[key],
        (expected as Record<string, unknown>)[key],
        prefix ? `${prefix}.${key}` : key,
      ),
    );
  }
  return differences;
}

/** Every field where two complete values differ (both directions), for the writer's resume check. */
export function exactDifferences(actual: unknown, expected: unknown, prefix = ''): IdentityDifference[] {
  const bothObjects =
    actual !== null &&
    expected !== null &&
    typeof actual === 'object' &&
    typeof expected === 'object' &&
    !Array.isArray(actual) &&
    !Array.isArray(expected);
  if (!bothObjects) {
    return canonicalJson(actual) === canonicalJson(expected)
      ? []
      : [{ field: prefix || '(root)', expected, actual }];
  }
  const keys = [...new Set([...Object.keys(actual as object), ...Object.keys(expected as object)])].sort();
  return keys.flatMap((key) =>
    exactDifferences(
      (actual as Record<string, unknown>)[key],
      (expected as Record<string, unknown>)[key],
      prefix ? `${prefix}.${key}` : key,
    ),
  );
}

/** Formats differences as `field (store: x, expected: y)` items for an error message. */
export function describeDifferences(differences: readonly IdentityDifference[]): string {
  return differences
    .map(
      ({ field, expected, actual }) =>
        `${field} (store: ${JSON.stringify(actual) ?? 'absent'}, expected: ${JSON.stringify(expected) ?? 'absent'})`,
    )
    .join('; ');
}

/**
 * Refuses a store that was not made from what the caller expects, before any work: throws an
 * IntegrityError `STORE_IDENTITY_MISMATCH` naming every differing field (`details.fields`).
 *
 * @example
 * ```ts
 * checkStoreIdentity(store.manifest, { model: { configHash }, tokenizer: { hash: tokenizer.hash } });
 * checkStoreIdentity(aligned.manifest, { aligned: { pivotStore: pivot.manifest.contentHash } });
 * ```
 */
export function checkStoreIdentity(
  manifest: { identity: StoreIdentity },
  expect: StoreIdentityExpectation,
  where = 'the store',
): void {
  const differences = identityDifferences(manifest.identity, expect);
  if (differences.length === 0) return;
  throw new IntegrityError(
    'STORE_IDENTITY_MISMATCH',
    `${where} was made from something else: ${describeDifferences(differences)}. Use a store captured with this model, tokenizer, data and options, or capture a new one.`,
    { details: { fields: differences.map((d) => d.field), differences } },
  );
}
