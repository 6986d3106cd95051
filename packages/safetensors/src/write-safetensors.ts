import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { InvalidInputError } from '@fusechat/core';
import { fsError, tempPathFor, writeFully } from './io.js';
import {
  coerceTensorData,
  type PlannedTensor,
  serializeHeader,
  validateMetadata,
  validatePlan,
} from './serialize-header.js';
import type { TensorData } from './tensor-data.js';
import { assertLittleEndianHost, bytesOf } from './typed-arrays.js';

/** Options of {@link writeSafetensors}. */
export interface WriteSafetensorsOptions {
  /** Written as `__metadata__` (e.g. `{ format: 'pt' }`, which `transformers` expects). */
  metadata?: Record<string, string>;
}

/**
 * Writes tensors to a `.safetensors` file atomically: everything goes to a hidden temp file in the
 * same directory, which is fsynced and renamed over `path` only when complete, so readers never see
 * a partial file. Data is laid out in the given order; the header is padded to 8 bytes.
 * A `Float32Array` given for an F16/BF16/F64/integer tensor is converted to that dtype.
 *
 * @example
 * ```ts
 * await writeSafetensors('out.safetensors', {
 *   'lm_head.weight': { dtype: 'BF16', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
 *   step: { dtype: 'I64', shape: [], data: new BigInt64Array([100n]) },
 * }, { metadata: { format: 'pt' } });
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorData> | Array<TensorData & { name: string }>,
  options: WriteSafetensorsOptions = {},
): Promise<void> {
  assertLittleEndianHost();
  if (typeof tensors !== 'object' || tensors === null)
    throw new InvalidInputError('tensors must be an object of name → tensor or an array of named tensors.', {
      code: 'SAFETENSORS_INVALID_TENSORS',
      field: 'tensors',
    });
  const list: Array<TensorData & { name: string }> = Array.isArray(tensors)
    ? tensors
    : Object.entries(tensors).map(([name, tensor]) => ({ ...tensor, name }));
  const plan: PlannedTensor[] = list.map(({ name, dtype, shape }) => ({ name, dtype, shape }));
  const numels = validatePlan(plan, 'tensors');
  const data = list.map((tensor, i) =>
    coerceTensorData(tensor.data, plan[i]!, numels[i]!, `tensors[${i}].data`),
  );
  const metadata = validateMetadata(options.metadata, 'options.metadata');
  const header = serializeHeader(plan, numels, metadata);

  const temp = tempPathFor(path);
  let handle: FileHandle | undefined;
  try {
    handle = await open(temp, 'wx');
    await writeFully(handle, header.bytes, 0);
    for (let i = 0; i < data.length; i++) await writeFully(handle, bytesOf(data[i]!), header.dataOffsets[i]!);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw fsError(error, 'write', path);
  }
}
