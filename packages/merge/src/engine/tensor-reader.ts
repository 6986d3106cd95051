import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError } from '@fusechat/core';
import type { OpenedModel } from './open-inputs.js';

// Node rejects single reads above 2 GiB − 1.
const MAX_READ = 1 << 30;

/**
 * Reads tensors of opened checkpoints into caller-owned float32 buffers, so the engine can
 * recycle a fixed pool instead of allocating (and page-faulting) fresh buffers per tensor: peak
 * memory stays at the pool size and the kernel does not zero new pages for every tensor.
 * 16-bit data is read into the upper half of the destination and widened in place (ascending
 * order never overwrites an unread element); F64 goes through a temporary array.
 */
export class TensorReader {
  readonly #handles = new Map<string, Promise<FileHandle>>();

  /** Reads `name` of `model` into `target` (which must hold at least its element count). */
  async read(model: OpenedModel, name: string, target: Float32Array): Promise<Float32Array> {
    const info = model.checkpoint.tensors.get(name)!;
    const path = join(model.dir, info.file);
    const values = target.subarray(0, info.numel);
    if (info.dtype === 'F64') {
      values.set(await model.checkpoint.readFloat32(name));
      return values;
    }
    const handle = await this.#handle(path);
    const byteOffset = info.dtype === 'F32' ? 0 : info.numel * 2;
    const bytes = new Uint8Array(values.buffer, values.byteOffset + byteOffset, info.byteLength);
    await readFully(handle, bytes, info.dataOffset, path, name);
    if (info.dtype === 'BF16') widenBfloat16InPlace(values);
    else if (info.dtype === 'F16') widenFloat16InPlace(values);
    return values;
  }

  async close(): Promise<void> {
    const handles = [...this.#handles.values()];
    this.#handles.clear();
    await Promise.all(handles.map(async (handle) => (await handle.catch(() => undefined))?.close()));
  }

  #handle(path: string): Promise<FileHandle> {
    let handle = this.#handles.get(path);
    if (!handle) {
      handle = open(path, 'r');
      handle.catch(() => undefined);
      this.#handles.set(path, handle);
    }
    return handle;
  }
}

async function readFully(
  handle: FileHandle,
  target: Uint8Array,
  position: number,
  path: string,
  name: string,
) {
  let done = 0;
  while (done < target.byteLength) {
    const { bytesRead } = await handle.read(
      target,
      done,
      Math.min(MAX_READ, target.byteLength - done),
      position + done,
    );
    if (bytesRead === 0) {
      throw new FileFormatError(
        'MERGE_INPUT_TRUNCATED',
        `${path} ends before the data of tensor "${name}"; the file changed or is truncated.`,
        {
          path,
          offset: position + done,
          tensorName: name,
        },
      );
    }
    done += bytesRead;
  }
}

/** bf16 bits stored in the upper half of `values`' bytes → float32 in place. */
function widenBfloat16InPlace(values: Float32Array): void {
  const n = values.length;
  const words = new Uint32Array(values.buffer, values.byteOffset, n);
  const halves = new Uint16Array(values.buffer, values.byteOffset + n * 2, n);
  for (let i = 0; i < n; i++) words[i] = halves[i]! << 16;
}

/** IEEE binary16 bits stored in the upper half of `values`' bytes → float32 in place. */
function widenFloat16InPlace(values: Float32Array): void {
  const n = values.length;
  const words = new Uint32Array(values.buffer, values.byteOffset, n);
  const halves = new Uint16Array(values.buffer, values.byteOffset + n * 2, n);
  for (let i = 0; i < n; i++) {
    const h = halves[i]!;
    const sign = (h & 0x8000) << 16;
    const exponent = (h >>> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0x1f) words[i] = sign | 0x7f800000 | (mantissa << 13);
    else if (exponent !== 0) words[i] = sign | ((exponent + 112) << 23) | (mantissa << 13);
    else if (mantissa === 0) words[i] = sign;
    else {
      // Subnormal half: value = mantissa · 2^-24, exact in float32.
      values[i] = (sign ? -1 : 1) * mantissa * 2 ** -24;
    }
  }
}
