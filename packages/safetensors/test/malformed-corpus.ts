// Test helper: a corpus of malformed safetensors files, each with the error it must produce.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface MalformedCase {
  name: string;
  /** What is wrong, for the test title. */
  problem: string;
  bytes: Uint8Array;
  code: string;
  tensorName?: string;
  /** Expected FileFormatError.offset (absolute byte offset in the file). */
  offset: number;
}

const encoder = new TextEncoder();

/** Assembles a file: 8-byte LE length (or `declaredLength`), header bytes, body. */
function assemble(
  header: string | Uint8Array,
  body: number | Uint8Array = 0,
  declaredLength?: bigint,
): Uint8Array {
  const headerBytes = typeof header === 'string' ? encoder.encode(header) : header;
  const bodyBytes = typeof body === 'number' ? new Uint8Array(body) : body;
  const out = new Uint8Array(8 + headerBytes.length + bodyBytes.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(bodyBytes, 8 + headerBytes.length);
  return out;
}

/** Byte offset of the `occurrence`-th match of `needle` in the header, as an absolute file offset. */
function at(header: string, needle: string, occurrence = 1): number {
  let index = -1;
  for (let k = 0; k < occurrence; k++) index = header.indexOf(needle, index + 1);
  if (index < 0) throw new Error(`corpus bug: ${needle} not in ${header}`);
  return 8 + encoder.encode(header.slice(0, index)).length;
}

const entry = (dtype: unknown, shape: unknown, offsets: unknown) =>
  `{"dtype":${JSON.stringify(dtype)},"shape":${JSON.stringify(shape)},"data_offsets":${JSON.stringify(offsets)}}`;

/** One case per line: what a truncated download, a buggy writer or a hostile file looks like. */
export function malformedCases(): MalformedCase[] {
  const cases: MalformedCase[] = [];
  const add = (c: MalformedCase) => cases.push(c);
  const tensorCase = (
    name: string,
    problem: string,
    header: string,
    body: number,
    code: string,
    tensorName: string | undefined,
    offset: number,
  ) => add({ name, problem, bytes: assemble(header, body), code, tensorName, offset });

  add({
    name: 'empty',
    problem: 'an empty file',
    bytes: new Uint8Array(0),
    code: 'SAFETENSORS_FILE_TOO_SMALL',
    offset: 0,
  });
  add({
    name: 'seven-bytes',
    problem: 'a file shorter than the length prefix',
    bytes: new Uint8Array(7).fill(1),
    code: 'SAFETENSORS_FILE_TOO_SMALL',
    offset: 0,
  });
  add({
    name: 'length-2-pow-60',
    problem: 'a header length of 2^60 (must not allocate)',
    bytes: assemble('{}', 0, 2n ** 60n),
    code: 'SAFETENSORS_HEADER_TOO_LARGE',
    offset: 0,
  });
  add({
    name: 'length-max-u64',
    problem: 'a header length of 2^64 − 1',
    bytes: assemble('{}', 0, 2n ** 64n - 1n),
    code: 'SAFETENSORS_HEADER_TOO_LARGE',
    offset: 0,
  });
  add({
    name: 'length-over-100mb',
    problem: 'a header length just over 100 MB',
    bytes: assemble('{}', 0, 100_000_001n),
    code: 'SAFETENSORS_HEADER_TOO_LARGE',
    offset: 0,
  });
  add({
    name: 'length-beyond-file',
    problem: 'a header length larger than the file',
    bytes: assemble('{}', 0, 1000n),
    code: 'SAFETENSORS_HEADER_OUT_OF_BOUNDS',
    offset: 0,
  });
  add({
    name: 'length-zero',
    problem: 'an empty header',
    bytes: assemble(''),
    code: 'SAFETENSORS_HEADER_INVALID_JSON',
    offset: 8,
  });
  {
    const prefix = encoder.encode('{"w');
    const header = new Uint8Array([...prefix, 0xff, ...encoder.encode(`":${entry('U8', [1], [0, 1])}}`)]);
    add({
      name: 'invalid-utf8',
      problem: 'a header that is not UTF-8',
      bytes: assemble(header, 1),
      code: 'SAFETENSORS_HEADER_INVALID_UTF8',
      offset: 8 + prefix.length,
    });
  }
  add({
    name: 'invalid-utf8-surrogate',
    problem: 'a UTF-8-encoded surrogate in the header',
    bytes: assemble(new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d])),
    code: 'SAFETENSORS_HEADER_INVALID_UTF8',
    offset: 10,
  });
  {
    const header = `{"w":${entry('F32', [1], [0, 4])}`; // missing closing brace
    add({
      name: 'invalid-json',
      problem: 'a header cut in the middle of the JSON',
      bytes: assemble(header, 4),
      code: 'SAFETENSORS_HEADER_INVALID_JSON',
      offset: 8 + header.length,
    });
  }
  {
    const header = `{"w":${entry('F32', [1], [0, 4])},}`;
    add({
      name: 'trailing-comma',
      problem: 'a trailing comma in the header',
      bytes: assemble(header, 4),
      code: 'SAFETENSORS_HEADER_INVALID_JSON',
      offset: 8 + header.length - 1,
    });
  }
  add({
    name: 'byte-order-mark',
    problem: 'a UTF-8 byte-order mark before the JSON',
    bytes: assemble('\ufeff{}'),
    code: 'SAFETENSORS_HEADER_INVALID_JSON',
    offset: 8,
  });
  add({
    name: 'nul-padding',
    problem: 'a header padded with NUL bytes instead of spaces',
    bytes: assemble('{}\0\0\0\0\0\0'),
    code: 'SAFETENSORS_HEADER_INVALID_JSON',
    offset: 10,
  });
  add({
    name: 'header-array',
    problem: 'a JSON array instead of an object',
    bytes: assemble('[]      '),
    code: 'SAFETENSORS_HEADER_NOT_OBJECT',
    offset: 8,
  });
  add({
    name: 'header-null',
    problem: 'JSON null instead of an object',
    bytes: assemble('null    '),
    code: 'SAFETENSORS_HEADER_NOT_OBJECT',
    offset: 8,
  });

  const one = (value: string) => `{"w":${value}}`;
  {
    const h = one(entry('F17', [1], [0, 4]));
    tensorCase('unknown-dtype', 'an unknown dtype', h, 4, 'SAFETENSORS_UNKNOWN_DTYPE', 'w', at(h, '"w"'));
  }
  {
    const h = one(entry('f32', [1], [0, 4]));
    tensorCase(
      'lowercase-dtype',
      'a dtype in the wrong case',
      h,
      4,
      'SAFETENSORS_UNKNOWN_DTYPE',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = one(entry(4, [1], [0, 4]));
    tensorCase(
      'numeric-dtype',
      'a dtype that is a number',
      h,
      4,
      'SAFETENSORS_UNKNOWN_DTYPE',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = one(entry('F32', [2.5], [0, 10]));
    tensorCase(
      'fractional-shape',
      'a non-integer dimension',
      h,
      10,
      'SAFETENSORS_INVALID_SHAPE',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = one(entry('F32', [-1], [0, 4]));
    tensorCase(
      'negative-shape',
      'a negative dimension',
      h,
      4,
      'SAFETENSORS_INVALID_SHAPE',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = one(entry('F32', '4', [0, 16]));
    tensorCase(
      'string-shape',
      'a shape that is a string',
      h,
      16,
      'SAFETENSORS_INVALID_SHAPE',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = one(entry('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 4]));
    tensorCase(
      'astronomic-shape',
      'a shape of 2^90 elements',
      h,
      4,
      'SAFETENSORS_INVALID_SHAPE',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = one(entry('F32', [1], [0, 4, 8]));
    tensorCase(
      'three-offsets',
      'data_offsets with three numbers',
      h,
      8,
      'SAFETENSORS_INVALID_OFFSETS',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = one(entry('F32', [1], [4, 0]));
    tensorCase(
      'reversed-offsets',
      'data_offsets with end before begin',
      h,
      4,
      'SAFETENSORS_INVALID_OFFSETS',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = one(entry('U8', [4], [0.5, 4.5]));
    tensorCase(
      'fractional-offsets',
      'fractional data_offsets',
      h,
      5,
      'SAFETENSORS_INVALID_OFFSETS',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = one('{"dtype":"F32","shape":[1]}');
    tensorCase('missing-offsets', 'no data_offsets', h, 4, 'SAFETENSORS_INVALID_OFFSETS', 'w', at(h, '"w"'));
  }
  {
    const h = one(entry('F32', [2], [0, 4]));
    tensorCase(
      'span-mismatch',
      'a byte span ≠ shape × dtype size',
      h,
      4,
      'SAFETENSORS_BYTE_LENGTH_MISMATCH',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = one('5');
    tensorCase(
      'entry-not-object',
      'a tensor entry that is a number',
      h,
      0,
      'SAFETENSORS_INVALID_TENSOR_ENTRY',
      'w',
      at(h, '"w"'),
    );
  }
  {
    const h = `{"a":${entry('F32', [2], [0, 8])},"b":${entry('F32', [2], [1000, 1008])}}`;
    const bodyStart = 8 + h.length;
    tensorCase(
      'offsets-out-of-range',
      'a tensor placed beyond the end of the body',
      h,
      16,
      'SAFETENSORS_OFFSETS_OUT_OF_RANGE',
      'b',
      bodyStart + 1000,
    );
  }
  {
    const h = `{"a":${entry('F32', [2], [0, 8])},"b":${entry('F32', [2], [4, 12])}}`;
    tensorCase(
      'overlap',
      'two tensors sharing bytes',
      h,
      12,
      'SAFETENSORS_OVERLAPPING_TENSORS',
      'b',
      8 + h.length + 4,
    );
  }
  {
    const h = `{"a":${entry('F32', [2], [0, 8])},"b":${entry('F32', [0], [4, 4])}}`;
    tensorCase(
      'empty-inside-other',
      'an empty tensor placed inside another one',
      h,
      8,
      'SAFETENSORS_OVERLAPPING_TENSORS',
      'b',
      8 + h.length + 4,
    );
  }
  {
    const h = `{"a":${entry('F32', [2], [0, 8])},"b":${entry('F32', [2], [12, 20])}}`;
    tensorCase(
      'gap',
      'unused bytes between two tensors',
      h,
      20,
      'SAFETENSORS_GAP_BETWEEN_TENSORS',
      'b',
      8 + h.length + 8,
    );
  }
  {
    const h = one(entry('F32', [2], [4, 12]));
    tensorCase(
      'gap-at-start',
      'unused bytes before the first tensor',
      h,
      12,
      'SAFETENSORS_GAP_BETWEEN_TENSORS',
      'w',
      8 + h.length,
    );
  }
  {
    const h = one(entry('F32', [2], [0, 8]));
    tensorCase(
      'trailing-bytes',
      'bytes after the last tensor',
      h,
      9,
      'SAFETENSORS_TRAILING_BYTES',
      'w',
      8 + h.length + 8,
    );
  }
  {
    const h = `{"a":${entry('F32', [2], [0, 8])},"b":${entry('F32', [1000], [8, 4008])}}`;
    const size = 8 + h.length + 100;
    tensorCase(
      'truncated-body',
      'a body cut short (partial download)',
      h,
      100,
      'SAFETENSORS_TRUNCATED',
      'b',
      size,
    );
  }
  {
    const bytes = 2 ** 42;
    const h = one(entry('F32', [2 ** 20, 2 ** 20], [0, bytes]));
    tensorCase(
      'four-terabyte-claim',
      'a 4 TB tensor in a tiny file (must not allocate)',
      h,
      16,
      'SAFETENSORS_TRUNCATED',
      'w',
      8 + h.length + 16,
    );
  }
  {
    const h = `{"a":${entry('U8', [1], [0, 1])},"a":${entry('U8', [1], [1, 2])}}`;
    tensorCase(
      'duplicate-name',
      'the same tensor name twice',
      h,
      2,
      'SAFETENSORS_DUPLICATE_TENSOR',
      'a',
      at(h, '"a"', 2),
    );
  }
  {
    const h = `{"ab":${entry('U8', [1], [0, 1])},"\\u0061b":${entry('U8', [1], [1, 2])}}`;
    tensorCase(
      'duplicate-escaped-name',
      'the same name twice, once \\u-escaped',
      h,
      2,
      'SAFETENSORS_DUPLICATE_TENSOR',
      'ab',
      at(h, '"\\u0061b"'),
    );
  }
  {
    const h = one('{"dtype":"F32","dtype":"U8","shape":[4],"data_offsets":[0,4]}');
    tensorCase(
      'duplicate-field',
      'a tensor entry with dtype given twice',
      h,
      4,
      'SAFETENSORS_DUPLICATE_KEY',
      'w',
      at(h, '"dtype"', 2),
    );
  }
  {
    const h = `{"__metadata__":{"format":"pt","epoch":3},"w":${entry('U8', [1], [0, 1])}}`;
    tensorCase(
      'metadata-number',
      'a metadata value that is not a string',
      h,
      1,
      'SAFETENSORS_INVALID_METADATA',
      undefined,
      at(h, '"__metadata__"'),
    );
  }
  {
    const h = `{"__metadata__":["pt"]}`;
    tensorCase(
      'metadata-array',
      'metadata that is an array',
      h,
      0,
      'SAFETENSORS_INVALID_METADATA',
      undefined,
      at(h, '"__metadata__"'),
    );
  }
  {
    const depth = 200_000;
    const h = `{"__metadata__":{"x":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    tensorCase(
      'deep-nesting',
      'metadata nested 200 000 levels deep',
      h,
      0,
      'SAFETENSORS_INVALID_METADATA',
      undefined,
      at(h, '"__metadata__"'),
    );
  }
  return cases;
}

/** Writes every case to `dir/<name>.safetensors`; returns the cases with their paths. */
export async function writeMalformedCorpus(dir: string): Promise<Array<MalformedCase & { path: string }>> {
  const cases = malformedCases();
  return Promise.all(
    cases.map(async (c) => {
      const path = join(dir, `${c.name}.safetensors`);
      await writeFile(path, c.bytes);
      return { ...c, path };
    }),
  );
}
