import { type CaptureRecord, InvalidInputError, NumericalError } from '@fusechat/core';

/** Refuses a record the store cannot hold faithfully; `k` and `vocabSize` are the store's. */
export function validateRecord(
  record: CaptureRecord,
  store: { k: number; vocabSize: number; nextTokenLogProbs: boolean },
): void {
  const where = `record "${String(record?.id)}"`;
  const invalid = (message: string, field: string, code = 'STORE_INVALID_RECORD') =>
    new InvalidInputError(`${where}: ${message}`, { code, field, details: { id: record?.id } });
  if (typeof record?.id !== 'string' || record.id.length === 0)
    throw invalid('id must be a non-empty string', 'id');
  if (Buffer.byteLength(record.id, 'utf8') > 65_535)
    throw invalid('id is longer than 65535 UTF-8 bytes', 'id');
  const { inputIds, labelMask, topK } = record;
  if (!(inputIds instanceof Int32Array)) throw invalid('inputIds must be an Int32Array', 'inputIds');
  const length = inputIds.length;
  if (!(labelMask instanceof Uint8Array) || labelMask.length !== length)
    throw invalid(`labelMask must be a Uint8Array of ${length} entries`, 'labelMask');
  if (
    topK === null ||
    typeof topK !== 'object' ||
    topK.length !== length ||
    !Number.isInteger(topK.k) ||
    topK.k < 1 ||
    !(topK.ids instanceof Int32Array) ||
    !(topK.logits instanceof Float32Array) ||
    topK.ids.length !== length * topK.k ||
    topK.logits.length !== length * topK.k
  )
    throw invalid(
      `topK must hold ${length} rows (one per token) of Int32Array ids and Float32Array logits`,
      'topK',
    );
  if (
    typeof record.ce !== 'number' ||
    record.ce === Number.POSITIVE_INFINITY ||
    record.ce === Number.NEGATIVE_INFINITY
  )
    throw new NumericalError(`${where}: ce is ${record.ce}; flag the example instead of storing it`, {
      code: 'STORE_NON_FINITE_VALUE',
      tensorName: 'ce',
      details: { id: record.id },
    });
  const { vocabSize } = store;
  for (let t = 0; t < length; t++) {
    const token = inputIds[t]!;
    if (token < 0 || token >= vocabSize)
      throw invalid(
        `inputIds[${t}] = ${token} is outside the vocabulary [0, ${vocabSize})`,
        'inputIds',
        'STORE_TOKEN_ID_OUT_OF_RANGE',
      );
    const mask = labelMask[t]!;
    if (mask > 1) throw invalid(`labelMask[${t}] = ${mask}; use 0 or 1`, 'labelMask');
  }
  const rowWidth = topK.k;
  for (let t = 0; t < length; t++) {
    let count = 0;
    for (let slot = 0; slot < rowWidth; slot++) {
      const index = t * rowWidth + slot;
      const id = topK.ids[index]!;
      if (id === -1) continue;
      if (id < 0 || id >= vocabSize)
        throw invalid(
          `topK row ${t} holds token id ${id}, outside the vocabulary [0, ${vocabSize})`,
          'topK.ids',
          'STORE_TOKEN_ID_OUT_OF_RANGE',
        );
      const value = topK.logits[index]!;
      if (!Number.isFinite(value))
        throw new NumericalError(
          `${where}: topK row ${t} has a ${value} value for token ${id}; flag the example (writer.flag) instead of storing it`,
          {
            code: 'STORE_NON_FINITE_VALUE',
            tensorName: 'topK.logits',
            details: { id: record.id, row: t, token: id },
          },
        );
      if (Math.abs(value) >= 65520)
        throw new NumericalError(
          `${where}: topK row ${t} value ${value} is outside the fp16 range (±65504)`,
          {
            code: 'STORE_VALUE_OUT_OF_RANGE',
            tensorName: 'topK.logits',
            details: { id: record.id, row: t, token: id },
          },
        );
      count++;
    }
    if (count > store.k)
      throw invalid(`topK row ${t} holds ${count} entries, more than the store's k = ${store.k}`, 'topK');
  }
  const logProbs = record.nextTokenLogProbs;
  if (store.nextTokenLogProbs) {
    if (!(logProbs instanceof Float32Array) || logProbs.length !== length)
      throw invalid(
        `nextTokenLogProbs must be a Float32Array of ${length} entries (the store keeps them)`,
        'nextTokenLogProbs',
      );
    for (let t = 0; t + 1 < length; t++) {
      const value = logProbs[t]!;
      if (!Number.isFinite(value) || Math.abs(value) >= 65520)
        throw new NumericalError(
          `${where}: nextTokenLogProbs[${t}] is ${value}; flag the example instead of storing it`,
          {
            code: 'STORE_NON_FINITE_VALUE',
            tensorName: 'nextTokenLogProbs',
            details: { id: record.id, position: t },
          },
        );
    }
  } else if (logProbs !== undefined)
    throw invalid(
      'has nextTokenLogProbs but the store was created with nextTokenLogProbs: false',
      'nextTokenLogProbs',
    );
}
