import { type FileHandle, open } from 'node:fs/promises';
import { type RecordBatch, RecordBatchStreamWriter, type Schema } from 'apache-arrow';

/**
 * apache-arrow's stream writer, with its bytes collected per batch instead of queued: the library's
 * sink is an unbounded async queue whose consumer runs later, so a fast producer would hold a
 * whole shard in memory. `_write` is the one place every message, padding and body buffer goes
 * through (apache-arrow 21.2.0, src/ipc/writer.ts); the bytes are the library's own.
 */
class CollectingStreamWriter extends RecordBatchStreamWriter {
  chunks: Uint8Array[] = [];

  protected override _write(chunk: unknown): this {
    if (this._started) {
      const view = chunk as ArrayBufferView;
      const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      if (bytes.byteLength > 0) {
        this.chunks.push(bytes);
        this._position += bytes.byteLength;
      }
    }
    return this;
  }

  take(): Uint8Array[] {
    const chunks = this.chunks;
    this.chunks = [];
    return chunks;
  }
}

/**
 * One Arrow IPC **stream** file (what `datasets`' ArrowWriter writes: `pa.RecordBatchStreamWriter`):
 * the schema message, record batches, the end-of-stream marker. Written through one file handle
 * and fsynced on close.
 */
export class ArrowShardWriter {
  private readonly writer = new CollectingStreamWriter();
  bytes = 0;
  rows = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(path: string, schema: Schema): Promise<ArrowShardWriter> {
    const handle = await open(path, 'wx');
    const shard = new ArrowShardWriter(path, handle);
    // Writes the schema now, so a shard without batches is still a valid (empty) stream.
    shard.writer.reset(undefined, schema);
    await shard.flush();
    return shard;
  }

  async write(batch: RecordBatch): Promise<void> {
    this.writer.write(batch);
    this.rows += batch.numRows;
    await this.flush();
  }

  /** Writes the end-of-stream marker, fsyncs and closes the file. */
  async close(): Promise<void> {
    this.writer.finish();
    await this.flush();
    await this.handle.sync();
    await this.handle.close();
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => {});
  }

  private async flush(): Promise<void> {
    const chunks = this.writer.take();
    // writev takes at most IOV_MAX (1024) buffers at once on Linux.
    for (let start = 0; start < chunks.length; start += 512) {
      const group = chunks.slice(start, start + 512);
      const { bytesWritten } = await this.handle.writev(group);
      const expected = group.reduce((sum, chunk) => sum + chunk.byteLength, 0);
      if (bytesWritten !== expected) {
        // A short write: write the rest one buffer at a time.
        let skip = bytesWritten;
        for (const chunk of group) {
          if (skip >= chunk.byteLength) {
            skip -= chunk.byteLength;
            continue;
          }
          const rest = chunk.subarray(skip);
          skip = 0;
          let offset = 0;
          while (offset < rest.byteLength) offset += (await this.handle.write(rest, offset)).bytesWritten;
        }
      }
      this.bytes += expected;
    }
  }
}
