import { describe, expect, it } from 'vitest';
import { checkStoreIdentity, exactDifferences, identityDifferences } from './store-identity.js';
import { testIdentity } from './testing/fixtures.js';

describe('store identity', () => {
  const identity = testIdentity();

  it('compares only what is expected, naming each differing field', () => {
    expect(identityDifferences(identity, {})).toEqual([]);
    expect(identityDifferences(identity, { tokenizer: { hash: identity.tokenizer.hash } })).toEqual([]);
    expect(identityDifferences(identity, { tokenizer: { vocabSize: 5 }, capture: { k: 10 } })).toEqual([
      { field: 'capture.k', expected: 10, actual: 4 },
      { field: 'tokenizer.vocabSize', expected: 5, actual: 1000 },
    ]);
  });

  it('null expects absence: chatTemplateHash null, aligned null', () => {
    expect(identityDifferences(identity, { chatTemplateHash: null, aligned: null })).toEqual([]);
    const aligned = {
      ...identity,
      aligned: { pivotStore: 'p', sourceStore: 's', vocabularyMapHash: 'm', mapping: 'exact' },
    };
    expect(identityDifferences(aligned, { aligned: null }).map((d) => d.field)).toEqual(['aligned']);
    expect(identityDifferences(identity, { aligned: { pivotStore: 'p' } }).map((d) => d.field)).toEqual([
      'aligned',
    ]);
    expect(identityDifferences(aligned, { aligned: { pivotStore: 'q' } }).map((d) => d.field)).toEqual([
      'aligned.pivotStore',
    ]);
  });

  it('checkStoreIdentity throws STORE_IDENTITY_MISMATCH with the fields', () => {
    expect(() => checkStoreIdentity({ identity }, { model: { name: identity.model.name } })).not.toThrow();
    try {
      checkStoreIdentity({ identity }, { model: { configHash: 'x' }, data: { hash: 'y' } }, 'stores/a');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({
        code: 'STORE_IDENTITY_MISMATCH',
        details: { fields: ['data.hash', 'model.configHash'] },
      });
      expect((error as Error).message).toMatch(
        /^stores\/a was made from something else: data\.hash \(store: "d+", expected: "y"\)/,
      );
    }
  });

  it('exact differences see fields on either side', () => {
    expect(exactDifferences({ a: 1, b: { c: 2 } }, { a: 1, b: { c: 2 } })).toEqual([]);
    expect(exactDifferences({ a: 1 }, { a: 1, extra: true }).map((d) => d.field)).toEqual(['extra']);
    expect(exactDifferences({ a: [1, 2] }, { a: [1, 3] }).map((d) => d.field)).toEqual(['a']);
  });
});
