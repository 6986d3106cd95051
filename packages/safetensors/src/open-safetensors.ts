import { type FileHandle, open } from 'node:fs/promises';
import { FileFormatError, FuseChatError, UnknownNameError } from '@fusechat/core';
import { fsError, readFully } from './io.js';
import { MAX_HEADER_BYTES, parseSafetensorsHeader } from './parse-header.js';
import type { TensorData, TensorInfo } from './tensor-data.js';
import { toFloat32 } from './to-float32.js';
import { assertLittleEndianHost, viewAs } from './typed-arrays.js';

/** An open `.safetensors` file: validated header, tensors read one at a time on demand. */
export interface SafetensorsFile {
  readonly path: string;
  /** The `__metadata__` string map (empty when absent). */
  readonly metadata: Record<string, string>;
  /** Every tensor, in header order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The tensor's bytes, little-endian, in a fresh buffer the caller owns. */
  readRaw(name: string): Promise<Uint8Array>;
  /** The tensor in its stored dtype (F16/BF16 as `Uint16Array` bits). */
  readTensor(name: string): Promise<TensorData>;
  /** The tensor converted to float32 (see {@link toFloat32}). */
  readFloat32(name: string): Promise<Float32Array>;
  /** Closes the file handle; later reads throw `SAFETENSORS_CLOSED`. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens a `.safetensors` file and validates its header strictly (see `parseSafetensorsHeader`).
 * Only the 8-byte prefix and the header are read now; each tensor is read from disk when asked
 * for, so memory stays at the size of the tensors being held, not the file.
 *
 * @throws FileFormatError (`SAFETENSORS_*`) for malformed files, FuseChatError
 *   `SAFETENSORS_FILE_NOT_FOUND` / `SAFETENSORS_IO_ERROR` for unreadable ones.
 * @example
 * ```ts
 * const file = await openSafetensors('model.safetensors');
 * try {
 *   for (const name of file.tensors.keys()) {
 *     const weights = await file.readFloat32(name);
 *     // …use weights, then let them go before the next tensor
 *   }
 * } finally {
 *   await file.close();
 * }
 * ```
 */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  assertLittleEndianHost();
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw fsError(error, 'open', path);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile())
      throw new FuseChatError('SAFETENSORS_NOT_A_FILE', `${path} is not a regular file.`, {
        details: { path },
      });
    const fileSize = stats.size;
    if (fileSize < 8)
      throw new FileFormatError(
        'SAFETENSORS_FILE_TOO_SMALL',
        `${path}: ${fileSize} bytes is too small for a safetensors file (at least the 8-byte header length is needed); the file is empty or truncated.`,
        { path, offset: 0 },
      );
    const prefix = new Uint8Array(8);
    await readFully(handle, prefix, 0, { path });
    // Read as BigInt: a hostile length such as 2^60 must be rejected before anything is allocated.
    const declared = new DataView(prefix.buffer).getBigUint64(0, true);
    if (declared > BigInt(MAX_HEADER_BYTES))
      throw new FileFormatError(
        'SAFETENSORS_HEADER_TOO_LARGE',
        `${path}: the header length prefix says ${declared} bytes, more than the ${MAX_HEADER_BYTES}-byte limit; this is not a safetensors file or it is corrupt.`,
        { path, offset: 0, details: { headerLength: declared.toString() } },
      );
    const headerLength = Number(declared);
    if (headerLength > fileSize - 8)
      throw new FileFormatError(
        'SAFETENSORS_HEADER_OUT_OF_BOUNDS',
        `${path}: the header length prefix says ${headerLength} bytes but only ${fileSize - 8} follow it; the file is truncated or not a safetensors file.`,
        { path, offset: 0, details: { headerLength } },
      );
    const headerBytes = new Uint8Array(headerLength);
    await readFully(handle, headerBytes, 8, { path });
    const header = parseSafetensorsHeader(headerBytes, fileSize, path);
    return new OpenSafetensorsFile(path, handle, header.metadata, header.tensors);
  } catch (error) {
    await handle.close().catch(() => {});
    throw fsError(error, 'read', path);
  }
}

class OpenSafetensorsFile implements SafetensorsFile {
  #handle: FileHandle | undefined;

  constructor(
    readonly path: string,
    handle: FileHandle,
    readonly metadata: Record<string, string>,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
  ) {
    this.#handle = handle;
  }

  async readRaw(name: string): Promise<Uint8Array> {
    const info = this.tensors.get(name);
    if (!info) throw tensorNotFound(name, this.tensors, this.path);
    const handle = this.#handle;
    if (!handle)
      throw new FuseChatError(
        'SAFETENSORS_CLOSED',
        `Cannot read tensor "${name}": ${this.path} was already closed; open it again.`,
        { details: { path: this.path, tensorName: name } },
      );
    // A fresh, unpooled buffer: byteOffset 0, so every typed-array view over it is aligned.
    let buffer: Buffer;
    try {
      buffer = Buffer.allocUnsafeSlow(info.byteLength);
    } catch (error) {
      throw new FuseChatError(
        'SAFETENSORS_TENSOR_TOO_LARGE',
        `Cannot read tensor "${name}" of ${this.path}: ${info.byteLength} bytes do not fit in one buffer here (${(error as Error).message}).`,
        { cause: error, details: { path: this.path, tensorName: name, byteLength: info.byteLength } },
      );
    }
    const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    try {
      await readFully(handle, bytes, info.dataOffset, { path: this.path, tensorName: name });
    } catch (error) {
      throw fsError(error, `read tensor "${name}" from`, this.path);
    }
    return bytes;
  }

  async readTensor(name: string): Promise<TensorData> {
    const bytes = await this.readRaw(name);
    const info = this.tensors.get(name)!;
    return { dtype: info.dtype, shape: [...info.shape], data: viewAs(bytes, info.dtype) };
  }

  async readFloat32(name: string): Promise<Float32Array> {
    return toFloat32(await this.readTensor(name));
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}

/** The error for a tensor name that a file or checkpoint does not hold. */
export function tensorNotFound(
  name: string,
  tensors: ReadonlyMap<string, unknown>,
  where: string,
): UnknownNameError {
  const names = [...tensors.keys()];
  const shown = names.length > 30 ? [...names.slice(0, 30), `… ${names.length - 30} more`] : names;
  const error = new UnknownNameError('tensor', name, shown, { code: 'SAFETENSORS_TENSOR_NOT_FOUND' });
  error.message = `${where}: ${error.message}`;
  return error;
}
