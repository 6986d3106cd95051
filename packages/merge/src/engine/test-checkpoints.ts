// Test-only: writes tiny Hugging Face style checkpoints with an independent minimal safetensors
// writer (so engine tests do not depend on the writer under test), plus config/tokenizer files.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FixtureTensor {
  readonly shape: readonly number[];
  readonly values: ArrayLike<number>;
  readonly dtype?: 'F32' | 'F16' | 'BF16' | 'I64';
}

function float32ToBfloat16Bits(value: number): number {
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0]!;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

function float32ToFloat16Bits(value: number): number {
  // Good enough for fixtures in the normal range (round to nearest even via Math.round on the mantissa).
  if (value === 0) return Object.is(value, -0) ? 0x8000 : 0;
  const sign = value < 0 ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  let exponent = Math.floor(Math.log2(magnitude));
  let mantissa = Math.round((magnitude / 2 ** exponent - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    exponent++;
  }
  return sign | ((exponent + 15) << 10) | mantissa;
}

/** Encodes tensors into safetensors bytes (8-byte header length, JSON header, data). */
export function encodeSafetensors(tensors: Readonly<Record<string, FixtureTensor>>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    const dtype = tensor.dtype ?? 'F32';
    let bytes: Uint8Array;
    if (dtype === 'F32') bytes = new Uint8Array(Float32Array.from(tensor.values).buffer);
    else if (dtype === 'I64')
      bytes = new Uint8Array(BigInt64Array.from(Array.from(tensor.values, (v) => BigInt(v))).buffer);
    else {
      const encode = dtype === 'BF16' ? float32ToBfloat16Bits : float32ToFloat16Bits;
      bytes = new Uint8Array(Uint16Array.from(Array.from(tensor.values, encode)).buffer);
    }
    header[name] = { dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += ' ';
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let position = 8 + json.length;
  for (const chunk of chunks) {
    out.set(chunk, position);
    position += chunk.length;
  }
  return out;
}

/** Writes `dir/config.json`, tokenizer files and one `model.safetensors` (or 2 shards). */
export function writeCheckpoint(
  dir: string,
  tensors: Readonly<Record<string, FixtureTensor>>,
  config: Readonly<Record<string, unknown>> = {},
  options: { shards?: boolean; tokenizer?: string } = {},
): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify(
      { model_type: 'llama', architectures: ['LlamaForCausalLM'], torch_dtype: 'float32', ...config },
      null,
      2,
    ),
  );
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }));
  writeFileSync(
    join(dir, 'tokenizer.json'),
    JSON.stringify({ model: { type: 'BPE' }, marker: options.tokenizer ?? dir }),
  );
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>' }));
  if (!options.shards) {
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors));
    return;
  }
  const names = Object.keys(tensors);
  const half = Math.ceil(names.length / 2);
  const parts = [names.slice(0, half), names.slice(half)];
  const weightMap: Record<string, string> = {};
  parts.forEach((part, index) => {
    const file = `model-0000${index + 1}-of-00002.safetensors`;
    writeFileSync(
      join(dir, file),
      encodeSafetensors(Object.fromEntries(part.map((name) => [name, tensors[name]!]))),
    );
    for (const name of part) weightMap[name] = file;
  });
  writeFileSync(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: {}, weight_map: weightMap }),
  );
}

/** Decodes a safetensors file's F32 tensors (independent reader for assertions). */
export function decodeSafetensors(
  bytes: Uint8Array,
): Record<string, { dtype: string; shape: number[]; values: number[] }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const out: Record<string, { dtype: string; shape: number[]; values: number[] }> = {};
  for (const [name, info] of Object.entries(
    header as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>,
  )) {
    if (name === '__metadata__') continue;
    const start = 8 + headerLength + info.data_offsets[0];
    const end = 8 + headerLength + info.data_offsets[1];
    const slice = new Uint8Array(bytes.subarray(start, end)); // a copy: Buffer#slice would be a view
    let values: number[];
    if (info.dtype === 'F32') values = [...new Float32Array(slice.buffer)];
    else if (info.dtype === 'BF16')
      values = [...new Uint16Array(slice.buffer)].map(
        (bits) => new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!,
      );
    else if (info.dtype === 'I64') values = [...new BigInt64Array(slice.buffer)].map(Number);
    else values = [];
    out[name] = { dtype: info.dtype, shape: info.shape, values };
  }
  return out;
}
