import { FileFormatError } from '@fusechat/core';
import { DTYPE_BYTES, DTYPES, isDType } from './dtype.js';
import type { TensorInfo } from './tensor-data.js';

/** Largest header accepted, in bytes (as the reference implementation: 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** A validated safetensors header. */
export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** In header order; `dataOffset` is absolute in the file. */
  tensors: Map<string, TensorInfo>;
}

const CORRUPT_HINT = 're-export or re-download the file';

/**
 * Parses and strictly validates the JSON header of a safetensors file: UTF-8, a JSON object, no
 * duplicate keys at any depth, string-only `__metadata__`, known dtypes, integer shapes,
 * `data_offsets` whose span is `numel × dtype size`, and tensors that tile the body exactly
 * (no overlap, no gap, nothing missing, nothing after).
 *
 * @param headerBytes - the `headerLength` bytes that follow the 8-byte length prefix.
 * @param fileSize - total size of the file, to check the body against the offsets.
 * @param path - used in error messages.
 * @throws FileFormatError with a `SAFETENSORS_*` code, the byte `offset` and the `tensorName`.
 * @example
 * ```ts
 * const { metadata, tensors } = parseSafetensorsHeader(bytes, fileSize, 'model.safetensors');
 * ```
 */
export function parseSafetensorsHeader(
  headerBytes: Uint8Array,
  fileSize: number,
  path = '(buffer)',
): SafetensorsHeader {
  const headerLength = headerBytes.byteLength;
  const bodyStart = 8 + headerLength;
  const bodyLength = fileSize - bodyStart;
  const fail = (code: string, message: string, offset?: number, tensorName?: string): never => {
    throw new FileFormatError(code, `${path}: ${message}`, { path, offset, tensorName });
  };

  let text: string;
  try {
    // ignoreBOM keeps a byte-order mark in the text, so JSON.parse rejects it as the spec requires.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch (error) {
    throw new FileFormatError(
      'SAFETENSORS_HEADER_INVALID_UTF8',
      `${path}: the header (bytes 8..${bodyStart}) is not valid UTF-8; ${CORRUPT_HINT}.`,
      { path, offset: 8 + firstInvalidUtf8(headerBytes), cause: error },
    );
  }
  const byteOffsetOf = (charIndex: number): number =>
    8 + Buffer.byteLength(text.slice(0, Math.max(0, charIndex)), 'utf8');

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec(String((error as Error).message))?.[1];
    throw new FileFormatError(
      'SAFETENSORS_HEADER_INVALID_JSON',
      `${path}: the header is not valid JSON (${(error as Error).message}); ${CORRUPT_HINT}.`,
      { path, offset: position === undefined ? 8 : byteOffsetOf(Number(position)), cause: error },
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    fail(
      'SAFETENSORS_HEADER_NOT_OBJECT',
      `the header must be a JSON object of tensors, got ${Array.isArray(parsed) ? 'an array' : typeof parsed === 'object' ? 'null' : typeof parsed}; ${CORRUPT_HINT}.`,
      8,
    );
  // JSON.parse silently keeps the last of duplicate keys: find them ourselves.
  const keyPositions = scanKeys(text, (key, index, topLevelKey) =>
    topLevelKey === undefined
      ? fail(
          'SAFETENSORS_DUPLICATE_TENSOR',
          `tensor "${key}" appears twice in the header; ${CORRUPT_HINT}.`,
          byteOffsetOf(index),
          key,
        )
      : fail(
          'SAFETENSORS_DUPLICATE_KEY',
          `key "${key}" appears twice in the header entry "${topLevelKey}"; ${CORRUPT_HINT}.`,
          byteOffsetOf(index),
          topLevelKey,
        ),
  );
  const entryOffset = (key: string) => byteOffsetOf(keyPositions.get(key) ?? 0);

  const header = parsed as Record<string, unknown>;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  const spans: Array<{ name: string; begin: number; end: number }> = [];

  // Text order from the scan: Object.keys would move integer-like names ("0", "1") to the front.
  for (const name of keyPositions.keys()) {
    const entry = header[name];
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
        fail(
          'SAFETENSORS_INVALID_METADATA',
          `"__metadata__" must be an object of strings, got ${describe(entry)}; ${CORRUPT_HINT}.`,
          entryOffset(name),
        );
      for (const [key, value] of Object.entries(entry as object)) {
        if (typeof value !== 'string')
          fail(
            'SAFETENSORS_INVALID_METADATA',
            `"__metadata__"."${key}" must be a string, got ${describe(value)}; ${CORRUPT_HINT}.`,
            entryOffset(name),
          );
        Object.defineProperty(metadata, key, { value, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const at = () => entryOffset(name);
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
      fail(
        'SAFETENSORS_INVALID_TENSOR_ENTRY',
        `tensor "${name}" must be an object with dtype, shape and data_offsets, got ${describe(entry)}; ${CORRUPT_HINT}.`,
        at(),
        name,
      );
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDType(dtype))
      fail(
        'SAFETENSORS_UNKNOWN_DTYPE',
        `tensor "${name}" has dtype ${describe(dtype)}; supported: ${DTYPES.join(', ')}.`,
        at(),
        name,
      );
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(
        'SAFETENSORS_INVALID_SHAPE',
        `tensor "${name}" has shape ${describe(shape)}; a shape is a list of non-negative integers; ${CORRUPT_HINT}.`,
        at(),
        name,
      );
    const dims = shape as number[];
    let numel = 1;
    for (const d of dims) numel *= d;
    const size = DTYPE_BYTES[dtype as keyof typeof DTYPE_BYTES];
    if (!Number.isSafeInteger(numel * size))
      fail(
        'SAFETENSORS_INVALID_SHAPE',
        `tensor "${name}" has shape [${dims.join(', ')}], too large to address (over 2^53 bytes); ${CORRUPT_HINT}.`,
        at(),
        name,
      );
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    )
      fail(
        'SAFETENSORS_INVALID_OFFSETS',
        `tensor "${name}" has data_offsets ${describe(offsets)}; expected [begin, end] integers with 0 ≤ begin ≤ end; ${CORRUPT_HINT}.`,
        at(),
        name,
      );
    const [begin, end] = offsets as [number, number];
    const byteLength = numel * size;
    if (end - begin !== byteLength)
      fail(
        'SAFETENSORS_BYTE_LENGTH_MISMATCH',
        `tensor "${name}" spans ${end - begin} bytes (data_offsets [${begin}, ${end}]) but ${dtype} [${dims.join(', ')}] needs ${byteLength}; ${CORRUPT_HINT}.`,
        at(),
        name,
      );
    tensors.set(name, {
      name,
      dtype: dtype as TensorInfo['dtype'],
      shape: [...dims],
      numel,
      byteLength,
      dataOffset: bodyStart + begin,
    });
    spans.push({ name, begin, end });
  }

  // The tensors must tile the body [0, bodyLength) exactly.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: string | undefined;
  for (const span of spans) {
    if (span.begin < cursor)
      fail(
        'SAFETENSORS_OVERLAPPING_TENSORS',
        `tensor "${span.name}" (body bytes ${span.begin}..${span.end}) overlaps tensor "${previous}" (ends at ${cursor}); ${CORRUPT_HINT}.`,
        bodyStart + span.begin,
        span.name,
      );
    if (span.begin > cursor) {
      if (span.begin >= bodyLength)
        fail(
          'SAFETENSORS_OFFSETS_OUT_OF_RANGE',
          `tensor "${span.name}" starts at body byte ${span.begin}, beyond the ${bodyLength}-byte body; ${CORRUPT_HINT}.`,
          bodyStart + span.begin,
          span.name,
        );
      fail(
        'SAFETENSORS_GAP_BETWEEN_TENSORS',
        `body bytes ${cursor}..${span.begin} before tensor "${span.name}" belong to no tensor; ${CORRUPT_HINT}.`,
        bodyStart + cursor,
        span.name,
      );
    }
    cursor = span.end;
    previous = span.name;
  }
  if (cursor > bodyLength) {
    const cut = spans.find((span) => span.end > bodyLength)!;
    fail(
      'SAFETENSORS_TRUNCATED',
      `the file has ${fileSize} bytes but the header declares ${bodyStart + cursor}; tensor "${cut.name}" is cut off at byte ${fileSize}. The file is truncated (incomplete download or copy?).`,
      fileSize,
      cut.name,
    );
  }
  if (cursor < bodyLength)
    fail(
      'SAFETENSORS_TRAILING_BYTES',
      `${bodyLength - cursor} bytes after the last tensor (from byte ${bodyStart + cursor}) belong to no tensor; ${CORRUPT_HINT}.`,
      bodyStart + cursor,
      previous,
    );
  return { metadata, tensors };
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (missing)';
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    // Hostile nesting can overflow JSON.stringify's recursion.
    return Array.isArray(value) ? 'a deeply nested array' : 'a deeply nested object';
  }
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

/**
 * Walks valid JSON text and reports duplicate object keys at any depth. Returns the character index
 * of every top-level key.
 */
function scanKeys(
  text: string,
  onDuplicate: (key: string, index: number, topLevelKey: string | undefined) => never,
): Map<string, number> {
  const topLevel = new Map<string, number>();
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  let currentTopKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      for (;;) {
        const quote = text.indexOf('"', end);
        let backslashes = 0;
        while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes++;
        end = quote;
        if (backslashes % 2 === 0) break;
        end++;
      }
      if (expectKey) {
        const raw = text.slice(i, end + 1);
        const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) onDuplicate(key, i, stack.length === 1 ? undefined : currentTopKey);
        keys.add(key);
        if (stack.length === 1) {
          topLevel.set(key, i);
          currentTopKey = key;
        }
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] != null;
    }
  }
  return topLevel;
}

/** Byte index of the first invalid UTF-8 sequence (only called once decoding has failed). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const extra =
      lead >= 0xc2 && lead <= 0xdf
        ? 1
        : lead >= 0xe0 && lead <= 0xef
          ? 2
          : lead >= 0xf0 && lead <= 0xf4
            ? 3
            : 0;
    if (extra === 0 || i + extra >= bytes.length) return i;
    for (let k = 1; k <= extra; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    const second = bytes[i + 1]!;
    // Overlong encodings, UTF-16 surrogates and code points above U+10FFFF.
    if ((lead === 0xe0 && second < 0xa0) || (lead === 0xed && second > 0x9f)) return i;
    if ((lead === 0xf0 && second < 0x90) || (lead === 0xf4 && second > 0x8f)) return i;
    i += extra + 1;
  }
  return bytes.length;
}
