// A reader of Arrow IPC **stream** files written from the specification alone, to check what the
// exporter writes without trusting apache-arrow (which wrote it). Test support, not exported.
//
// Spec: https://arrow.apache.org/docs/format/Columnar.html ("Serialization and Interprocess
// Communication", "Encapsulated message format", "Buffer layout") and format/Message.fbs,
// Schema.fbs. Covered: the encapsulated message framing (0xFFFFFFFF continuation, int32 metadata
// length, flatbuffer `Message`, body; the end-of-stream marker 0xFFFFFFFF 00000000; the pre-0.15
// framing without continuation), `Schema` (fields, custom metadata), `RecordBatch` (field nodes,
// buffers; no compression, no dictionaries), and the types the exporter emits: Int (64-bit),
// FloatingPoint (single, double), Bool, List — with validity bitmaps and int32 offsets.

/** An Arrow type as far as this reader knows them. */
export type ArrowType =
  | { readonly kind: 'int'; readonly bitWidth: number; readonly signed: boolean }
  | { readonly kind: 'float'; readonly precision: 'half' | 'single' | 'double' }
  | { readonly kind: 'bool' }
  | { readonly kind: 'list' };

export interface ArrowField {
  readonly name: string;
  readonly nullable: boolean;
  readonly type: ArrowType;
  readonly children: readonly ArrowField[];
}

/** A decoded column: one JS value per row (number, boolean, null, or an array of those, nested). */
export type ColumnValues = unknown[];

export interface ArrowStream {
  readonly fields: readonly ArrowField[];
  readonly metadata: ReadonlyMap<string, string>;
  readonly batches: readonly {
    readonly length: number;
    readonly columns: ReadonlyMap<string, ColumnValues>;
  }[];
  /** The stream ended with the end-of-stream marker (not just the end of the bytes). */
  readonly endOfStream: boolean;
}

const MESSAGE_HEADER_SCHEMA = 1;
const MESSAGE_HEADER_RECORD_BATCH = 3;
const METADATA_VERSION_V5 = 4;
// Type union ids of Schema.fbs.
const TYPE_INT = 2;
const TYPE_FLOATING_POINT = 3;
const TYPE_BOOL = 6;
const TYPE_LIST = 12;

/** A flatbuffer table at `position` of `view`. */
class Table {
  constructor(
    readonly view: DataView,
    readonly position: number,
  ) {}

  /** Offset of field `index` from the table start, 0 when absent. */
  private fieldOffset(index: number): number {
    const vtable = this.position - this.view.getInt32(this.position, true);
    const vtableBytes = this.view.getUint16(vtable, true);
    const entry = 4 + 2 * index;
    return entry < vtableBytes ? this.view.getUint16(vtable + entry, true) : 0;
  }

  has(index: number): boolean {
    return this.fieldOffset(index) !== 0;
  }

  uint8(index: number, fallback: number): number {
    const offset = this.fieldOffset(index);
    return offset === 0 ? fallback : this.view.getUint8(this.position + offset);
  }

  int16(index: number, fallback: number): number {
    const offset = this.fieldOffset(index);
    return offset === 0 ? fallback : this.view.getInt16(this.position + offset, true);
  }

  int32(index: number, fallback: number): number {
    const offset = this.fieldOffset(index);
    return offset === 0 ? fallback : this.view.getInt32(this.position + offset, true);
  }

  int64(index: number, fallback: number): number {
    const offset = this.fieldOffset(index);
    return offset === 0 ? fallback : safeNumber(this.view.getBigInt64(this.position + offset, true));
  }

  bool(index: number, fallback: boolean): boolean {
    const offset = this.fieldOffset(index);
    return offset === 0 ? fallback : this.view.getUint8(this.position + offset) !== 0;
  }

  /** Follows the uoffset stored in field `index`. */
  private target(index: number): number | undefined {
    const offset = this.fieldOffset(index);
    if (offset === 0) return undefined;
    const at = this.position + offset;
    return at + this.view.getUint32(at, true);
  }

  table(index: number): Table | undefined {
    const at = this.target(index);
    return at === undefined ? undefined : new Table(this.view, at);
  }

  string(index: number): string | undefined {
    const at = this.target(index);
    if (at === undefined) return undefined;
    const length = this.view.getUint32(at, true);
    return new TextDecoder('utf-8', { fatal: true }).decode(
      new Uint8Array(this.view.buffer, this.view.byteOffset + at + 4, length),
    );
  }

  /** A vector: its element count and the position of its first element. */
  vector(index: number): { length: number; start: number } | undefined {
    const at = this.target(index);
    return at === undefined ? undefined : { length: this.view.getUint32(at, true), start: at + 4 };
  }

  tables(index: number): Table[] {
    const vector = this.vector(index);
    if (vector === undefined) return [];
    return Array.from({ length: vector.length }, (_, i) => {
      const element = vector.start + 4 * i;
      return new Table(this.view, element + this.view.getUint32(element, true));
    });
  }
}

function safeNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
    throw new Error(`arrow reader: int64 ${value} is outside the safe integer range`);
  return Number(value);
}

/** Parses a whole Arrow IPC stream. Throws on anything malformed or outside the supported subset. */
export function readArrowStream(bytes: Uint8Array): ArrowStream {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  let fields: ArrowField[] | undefined;
  let metadata = new Map<string, string>();
  const batches: { length: number; columns: Map<string, ColumnValues> }[] = [];
  let endOfStream = false;
  while (offset < bytes.byteLength) {
    if (offset + 4 > bytes.byteLength) throw new Error(`arrow reader: truncated message prefix at ${offset}`);
    let metadataLength: number;
    if (view.getUint32(offset, true) === 0xffffffff) {
      metadataLength = view.getInt32(offset + 4, true);
      offset += 8;
    } else {
      metadataLength = view.getInt32(offset, true);
      offset += 4;
    }
    if (metadataLength === 0) {
      endOfStream = true;
      if (offset !== bytes.byteLength)
        throw new Error(`arrow reader: ${bytes.byteLength - offset} bytes after end of stream`);
      break;
    }
    if (metadataLength < 0 || offset + metadataLength > bytes.byteLength)
      throw new Error(`arrow reader: metadata length ${metadataLength} at ${offset} runs past the end`);
    if (offset % 8 !== 0 || (offset + metadataLength) % 8 !== 0)
      throw new Error(`arrow reader: message at ${offset} is not 8-byte aligned`);
    const message = new Table(view, offset + view.getUint32(offset, true));
    const version = message.int16(0, 0);
    if (version !== METADATA_VERSION_V5)
      throw new Error(`arrow reader: metadata version ${version}, expected V5`);
    const headerType = message.uint8(1, 0);
    const header = message.table(2);
    const bodyLength = message.int64(3, 0);
    offset += metadataLength;
    if (offset + bodyLength > bytes.byteLength)
      throw new Error('arrow reader: message body runs past the end');
    const body = new DataView(bytes.buffer, bytes.byteOffset + offset, bodyLength);
    offset += bodyLength;
    if (header === undefined) throw new Error('arrow reader: message without header');
    if (headerType === MESSAGE_HEADER_SCHEMA) {
      if (fields !== undefined) throw new Error('arrow reader: second schema message');
      if (header.int16(0, 0) !== 0) throw new Error('arrow reader: big-endian schema');
      fields = header.tables(1).map(readField);
      metadata = new Map(header.tables(2).map((kv) => [kv.string(0) ?? '', kv.string(1) ?? '']));
    } else if (headerType === MESSAGE_HEADER_RECORD_BATCH) {
      if (fields === undefined) throw new Error('arrow reader: record batch before the schema');
      batches.push(readRecordBatch(header, body, fields));
    } else {
      throw new Error(`arrow reader: unsupported message header type ${headerType}`);
    }
  }
  if (fields === undefined) throw new Error('arrow reader: no schema message');
  return { fields, metadata, batches, endOfStream };
}

function readField(table: Table): ArrowField {
  const name = table.string(0) ?? '';
  if (table.has(4)) throw new Error(`arrow reader: field ${name} is dictionary-encoded`);
  const typeId = table.uint8(2, 0);
  const typeTable = table.table(3);
  let type: ArrowType;
  switch (typeId) {
    case TYPE_INT:
      type = {
        kind: 'int',
        bitWidth: typeTable?.int32(0, 0) ?? 0,
        signed: typeTable?.bool(1, false) ?? false,
      };
      break;
    case TYPE_FLOATING_POINT: {
      const precision = typeTable?.int16(0, 0) ?? 0;
      type = { kind: 'float', precision: precision === 0 ? 'half' : precision === 1 ? 'single' : 'double' };
      break;
    }
    case TYPE_BOOL:
      type = { kind: 'bool' };
      break;
    case TYPE_LIST:
      type = { kind: 'list' };
      break;
    default:
      throw new Error(`arrow reader: field ${name} has unsupported type id ${typeId}`);
  }
  const children = table.tables(5).map(readField);
  if (type.kind === 'list' && children.length !== 1)
    throw new Error(`arrow reader: list ${name} needs one child`);
  return { name, nullable: table.bool(1, false), type, children };
}

function readRecordBatch(
  header: Table,
  body: DataView,
  fields: readonly ArrowField[],
): { length: number; columns: Map<string, ColumnValues> } {
  if (header.has(3)) throw new Error('arrow reader: compressed record batch');
  const length = header.int64(0, 0);
  const nodesVector = header.vector(1);
  const buffersVector = header.vector(2);
  if (nodesVector === undefined || buffersVector === undefined)
    throw new Error('arrow reader: batch without nodes or buffers');
  // Vectors of structs are inline: FieldNode {length: i64, null_count: i64}, Buffer {offset: i64, length: i64}.
  const metadataView = header.view;
  const struct = (start: number, i: number) => ({
    a: safeNumber(metadataView.getBigInt64(start + 16 * i, true)),
    b: safeNumber(metadataView.getBigInt64(start + 16 * i + 8, true)),
  });
  const nodes = Array.from({ length: nodesVector.length }, (_, i) => {
    const { a, b } = struct(nodesVector.start, i);
    return { length: a, nullCount: b };
  });
  const buffers = Array.from({ length: buffersVector.length }, (_, i) => {
    const { a, b } = struct(buffersVector.start, i);
    if (a % 8 !== 0) throw new Error(`arrow reader: buffer ${i} at body offset ${a} is not 8-byte aligned`);
    if (a + b > body.byteLength) throw new Error(`arrow reader: buffer ${i} runs past the body`);
    return new DataView(body.buffer, body.byteOffset + a, b);
  });
  let nodeIndex = 0;
  let bufferIndex = 0;
  const next = <T>(list: T[], what: string, index: number): T => {
    const value = list[index];
    if (value === undefined) throw new Error(`arrow reader: batch has too few ${what}`);
    return value;
  };
  const decode = (field: ArrowField): ColumnValues => {
    const node = next(nodes, 'field nodes', nodeIndex++);
    const validity = next(buffers, 'buffers', bufferIndex++);
    const isValid = (i: number) =>
      node.nullCount === 0 || validity.byteLength === 0 || ((validity.getUint8(i >> 3) >> (i & 7)) & 1) === 1;
    if (node.nullCount > 0 && validity.byteLength < Math.ceil(node.length / 8))
      throw new Error(`arrow reader: ${field.name} has nulls but a short validity bitmap`);
    const type = field.type;
    if (type.kind === 'list') {
      const offsetsBuffer = next(buffers, 'buffers', bufferIndex++);
      if (offsetsBuffer.byteLength < 4 * (node.length + 1))
        throw new Error(`arrow reader: ${field.name} offsets too short`);
      const child = decode(field.children[0]!);
      const values: ColumnValues = [];
      for (let i = 0; i < node.length; i++) {
        const start = offsetsBuffer.getInt32(4 * i, true);
        const end = offsetsBuffer.getInt32(4 * i + 4, true);
        if (start < 0 || end < start || end > child.length)
          throw new Error(
            `arrow reader: ${field.name} offsets [${start}, ${end}) outside the child's ${child.length}`,
          );
        values.push(isValid(i) ? child.slice(start, end) : null);
      }
      return values;
    }
    const data = next(buffers, 'buffers', bufferIndex++);
    const values: ColumnValues = new Array(node.length);
    if (type.kind === 'bool') {
      if (data.byteLength < Math.ceil(node.length / 8))
        throw new Error(`arrow reader: ${field.name} bitmap too short`);
      for (let i = 0; i < node.length; i++)
        values[i] = isValid(i) ? ((data.getUint8(i >> 3) >> (i & 7)) & 1) === 1 : null;
      return values;
    }
    const width =
      type.kind === 'int'
        ? type.bitWidth / 8
        : type.precision === 'single'
          ? 4
          : type.precision === 'double'
            ? 8
            : 2;
    if (data.byteLength < width * node.length) throw new Error(`arrow reader: ${field.name} data too short`);
    for (let i = 0; i < node.length; i++) {
      if (!isValid(i)) {
        values[i] = null;
        continue;
      }
      if (type.kind === 'float') {
        if (type.precision === 'half') throw new Error('arrow reader: half floats are not supported');
        values[i] = type.precision === 'single' ? data.getFloat32(4 * i, true) : data.getFloat64(8 * i, true);
      } else if (type.bitWidth === 64) {
        values[i] = safeNumber(type.signed ? data.getBigInt64(8 * i, true) : data.getBigUint64(8 * i, true));
      } else if (type.bitWidth === 32) {
        values[i] = type.signed ? data.getInt32(4 * i, true) : data.getUint32(4 * i, true);
      } else {
        throw new Error(`arrow reader: int${type.bitWidth} is not supported`);
      }
    }
    return values;
  };
  const columns = new Map<string, ColumnValues>();
  for (const field of fields) {
    const column = decode(field);
    if (column.length !== length)
      throw new Error(`arrow reader: column ${field.name} has ${column.length} rows, the batch ${length}`);
    columns.set(field.name, column);
  }
  if (nodeIndex !== nodes.length || bufferIndex !== buffers.length)
    throw new Error('arrow reader: batch has more field nodes or buffers than the schema uses');
  return { length, columns };
}
