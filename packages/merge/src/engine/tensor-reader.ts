import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError } from '@fusechat/core';
import type { OpenedModel } from './open-inputs.js';

// Node rejects single reads above 2 GiB − 1.
const MAX_READ = 1 << 30;

/** Bytes per positional read: large enough for few syscalls, small enough to overlap with math. */
const READ_CHUNK_BYTES = 8 << 20;
/** Reads in flight per tensor (libuv runs 4 at once by default). */
const READS_IN_FLIGHT = 2;

/**
 * Called in index order as a contiguous prefix of the tensor becomes ready (read and widened to
 * float32): elements `[0, ready)` may be used while the rest is still being read.
 */
export type ReadProgress = (ready: number) => void;

/**
 * Before each piece is read: resolves once the target's bytes `[0, end)` may be overwritten
 * (e.g. a pending write of the previous tensor from the same buffer has consumed them);
 * `undefined` when they already may.
 */
export type ReadGate = (end: number) => Promise<void> | undefined;

/**
 * Reads tensors of opened checkpoints into caller-owned float32 buffers, so the engine can
 * recycle a fixed pool instead of allocating (and page-faulting) fresh buffers per tensor: peak
 * memory stays at the pool size and the kernel does not zero new pages for every tensor.
 * Reads are positional, in 8 MiB pieces with two in flight, straight into the destination (no
 * intermediate copy); `onProgress` sees the ready prefix grow, so per-element statistics can
 * run while the rest arrives. 16-bit data is read into the upper half of the destination and
 * widened in place, prefix by prefix (ascending order never overwrites an unread element: the
 * halves of elements ≥ e sit at bytes ≥ 2n + 2e ≥ 4e); F64 goes through a temporary array.
 */
export class TensorReader {
  readonly #handles = new Map<string, Promise<FileHandle>>();
  readonly #chunkBytes: number;

  /** `chunkBytes`: bytes per positional read (default 8 MiB; tests use small ones). */
  constructor(options: { chunkBytes?: number } = {}) {
    this.#chunkBytes = options.chunkBytes ?? READ_CHUNK_BYTES;
  }

  /** Reads `name` of `model` into `target` (which must hold at least its element count). */
  async read(
    model: OpenedModel,
    name: string,
    target: Float32Array,
    onProgress?: ReadProgress,
    gate?: ReadGate,
  ): Promise<Float32Array> {
    const info = model.checkpoint.tensors.get(name)!;
    const path = join(model.dir, info.file);
    const values = target.subarray(0, info.numel);
    if (info.dtype === 'F64') {
      const data = await model.checkpoint.readFloat32(name);
      await gate?.(values.byteLength);
      values.set(data);
      onProgress?.(values.length);
      return values;
    }
    const handle = await this.#handle(path);
    const elementBytes = info.dtype === 'F32' ? 4 : 2;
    const byteOffset = info.dtype === 'F32' ? 0 : info.numel * 2;
    const bytes = new Uint8Array(values.buffer, values.byteOffset + byteOffset, info.byteLength);
    const widen =
      info.dtype === 'BF16' ? widenBfloat16InPlace : info.dtype === 'F16' ? widenFloat16InPlace : undefined;
    // Chunk boundaries on whole elements.
    const chunkBytes = Math.max(elementBytes, this.#chunkBytes - (this.#chunkBytes % elementBytes));
    const chunkCount = Math.ceil(bytes.byteLength / chunkBytes);
    const done = new Uint8Array(chunkCount);
    let nextChunk = 0;
    let readyChunks = 0;
    const advance = () => {
      const before = readyChunks;
      while (readyChunks < chunkCount && done[readyChunks] === 1) readyChunks++;
      if (readyChunks === before) return;
      const ready = Math.min(info.numel, (readyChunks * chunkBytes) / elementBytes);
      widen?.(values, (before * chunkBytes) / elementBytes, ready);
      onProgress?.(ready);
    };
    const worker = async () => {
      while (nextChunk < chunkCount) {
        const chunk = nextChunk++;
        const start = chunk * chunkBytes;
        const end = Math.min(bytes.byteLength, start + chunkBytes);
        // 16-bit data lands in the upper half and is widened below it: gating the piece's own
        // bytes covers the widening too (it writes below the bytes already read).
        const wait = gate?.(byteOffset + end);
        if (wait !== undefined) await wait;
        await readFully(handle, bytes.subarray(start, end), info.dataOffset + start, path, name);
        done[chunk] = 1;
        advance();
      }
    };
    await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, chunkCount) }, worker));
    if (chunkCount === 0) onProgress?.(0);
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

/** bf16 bits stored in the upper half of `values`' bytes → float32 in place, elements `[start, end)`. */
function widenBfloat16InPlace(values: Float32Array, start: number, end: number): void {
  const n = values.length;
  const words = new Uint32Array(values.buffer, values.byteOffset, n);
  const halves = new Uint16Array(values.buffer, values.byteOffset + n * 2, n);
  for (let i = start; i < end; i++) words[i] = halves[i]! << 16;
}

/** IEEE binary16 bits stored in the upper half of `values`' bytes → float32 in place, `[start, end)`. */
function widenFloat16InPlace(values: Float32Array, start: number, end: number): void {
  const n = values.length;
  const words = new Uint32Array(values.buffer, values.byteOffset, n);
  const halves = new Uint16Array(values.buffer, values.byteOffset + n * 2, n);
  for (let i = start; i < end; i++) {
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
