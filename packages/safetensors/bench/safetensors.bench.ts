// `pnpm bench safetensors`: write then stream-read a ~1 GB checkpoint (16 × 64 MB F32) through the
// page cache; report throughput and the peak RSS while reading tensor by tensor, plus the speed of
// the F16/BF16 conversions. Options: --tensors N (default 16), --mb M per tensor (default 64).
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatBytes } from '@fusechat/core';
import {
  bfloat16ToFloat32,
  createCheckpointWriter,
  float16ToFloat32,
  float32ToBfloat16,
  float32ToFloat16,
  openCheckpoint,
} from '@fusechat/safetensors';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const tensorCount = option('tensors', 16);
const tensorBytes = option('mb', 64) * 1024 * 1024;
const numel = tensorBytes / 4;
const totalBytes = tensorCount * tensorBytes;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const now = () => performance.now();
const gbps = (bytes: number, ms: number) => bytes / 1e9 / (ms / 1000);

const dir = await mkdtemp(join(tmpdir(), 'fusechat-safetensors-bench-'));
const results: Record<string, unknown> = {
  tensors: tensorCount,
  tensorBytes,
  totalBytes,
  loadBefore: loadavg(),
};
try {
  // ---- write (streaming checkpoint writer; close() fsyncs and renames)
  const plan = Array.from({ length: tensorCount }, (_, i) => ({
    name: `model.layers.${i}.mlp.weight`,
    dtype: 'F32' as const,
    shape: [numel / 1024, 1024],
  }));
  const source = new Float32Array(numel);
  for (let i = 0; i < numel; i++) source[i] = Math.sin(i);
  const out = join(dir, 'checkpoint');
  await mkdir(out);
  const writeStart = now();
  const writer = await createCheckpointWriter(out, plan);
  for (const tensor of plan) await writer.write(tensor.name, source);
  const beforeClose = now();
  await writer.close();
  const writeEnd = now();
  results.writeMs = writeEnd - writeStart;
  results.writeGBps = gbps(totalBytes, writeEnd - writeStart);
  results.writeNoSyncGBps = gbps(totalBytes, beforeClose - writeStart);
  results.closeMs = writeEnd - beforeClose;

  // ---- warm the page cache (a plain sequential read), then stream tensor by tensor
  const path = join(out, writer.shardFiles[0]!);
  {
    const handle = await open(path, 'r');
    const chunk = Buffer.allocUnsafe(16 * 1024 * 1024);
    while ((await handle.read(chunk, 0, chunk.length, null)).bytesRead > 0);
    await handle.close();
  }
  gc();
  const baselineRss = process.memoryUsage().rss;
  let peakRss = baselineRss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 1);
  const checkpoint = await openCheckpoint(out);
  // One tensor at a time; the helper's frame keeps only the tensor being read alive, and gc() runs
  // when the previous one is unreachable, so the peak shows what streaming really costs.
  const readOne = async (name: string) => {
    const start = now();
    const values = await checkpoint.readFloat32(name);
    const elapsed = now() - start;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    return { elapsed, last: values[values.length - 1]! };
  };
  let checksum = 0;
  let readMs = 0;
  for (const name of checkpoint.tensors.keys()) {
    gc();
    const { elapsed, last } = await readOne(name);
    readMs += elapsed;
    checksum += last;
  }
  clearInterval(sampler);
  await checkpoint.close();
  if (Math.abs(checksum - tensorCount * Math.fround(Math.sin(numel - 1))) > 1e-3)
    throw new Error('bad data read back');
  results.readMs = readMs;
  results.readGBps = gbps(totalBytes, readMs);
  results.baselineRss = baselineRss;
  results.peakRss = peakRss;
  results.peakRssAboveBaseline = peakRss - baselineRss;

  // ---- conversions on one tensor's worth of elements
  const halves = new Uint16Array(numel);
  const back = new Float32Array(numel);
  const rates: Record<string, { wall: number; cpu: number }> = {};
  const measure = (name: string, run: () => void) => {
    run(); // warm-up (JIT, lazily built table)
    const cpuStart = process.cpuUsage();
    const start = now();
    const repeats = 3;
    for (let r = 0; r < repeats; r++) run();
    const wallMs = now() - start;
    const cpu = process.cpuUsage(cpuStart);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    rates[name] = {
      wall: (repeats * numel) / 1e9 / (wallMs / 1000),
      cpu: (repeats * numel) / 1e9 / (cpuMs / 1000),
    };
  };
  measure('float32ToBfloat16', () => float32ToBfloat16(source, halves));
  measure('bfloat16ToFloat32', () => bfloat16ToFloat32(halves, back));
  measure('float32ToFloat16', () => float32ToFloat16(source, halves));
  measure('float16ToFloat32', () => float16ToFloat32(halves, back));
  results.conversionsGElementsPerSecond = rates;
  results.loadAfter = loadavg();
} finally {
  await rm(dir, { recursive: true, force: true });
}

const conversions = results.conversionsGElementsPerSecond as Record<string, { wall: number; cpu: number }>;
const rows: Array<[string, string]> = [
  ['file', `${tensorCount} × ${formatBytes(tensorBytes)} F32 = ${formatBytes(totalBytes)}`],
  ['write (streaming writer, incl. fsync)', `${(results.writeGBps as number).toFixed(2)} GB/s`],
  ['write before close (page cache)', `${(results.writeNoSyncGBps as number).toFixed(2)} GB/s`],
  ['close (fsync + rename)', `${(results.closeMs as number).toFixed(0)} ms`],
  ['read tensor by tensor (page cache)', `${(results.readGBps as number).toFixed(2)} GB/s`],
  ['RSS before streaming', formatBytes(results.baselineRss as number)],
  ['peak RSS while streaming', formatBytes(results.peakRss as number)],
  [
    `peak RSS − before (largest tensor: ${formatBytes(tensorBytes)})`,
    formatBytes(results.peakRssAboveBaseline as number),
  ],
  ...Object.entries(conversions).map(([name, rate]): [string, string] => [
    `${name} (${numel} elements)`,
    `${rate.wall.toFixed(2)} G elements/s wall, ${rate.cpu.toFixed(2)} per CPU-second`,
  ]),
  [
    'load average before / after',
    `${(results.loadBefore as number[]).map((l) => l.toFixed(2)).join(' ')} / ${(results.loadAfter as number[]).map((l) => l.toFixed(2)).join(' ')}`,
  ],
];
const width = Math.max(...rows.map(([k]) => k.length));
console.log(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n'));
await mkdir('bench-results', { recursive: true });
await writeFile(join('bench-results', 'safetensors.json'), `${JSON.stringify(results, null, 2)}\n`);
console.log('\nwrote bench-results/safetensors.json');
