import { readFile, statfs } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';

/** What the plan may use on this machine. */
export interface MachineResources {
  /** Free bytes of the run directory's filesystem (for an unprivileged user: `bavail × bsize`). */
  readonly freeDiskBytes: number;
  /** Memory a new allocation can get: free memory, or the cgroup's limit minus its usage when lower. */
  readonly availableMemoryBytes: number;
  readonly totalMemoryBytes: number;
  /** The cgroup v2 `memory.max` of this process, when there is one. */
  readonly cgroupLimitBytes?: number | undefined;
  /** Where the free disk space was measured (the run directory or its nearest existing parent). */
  readonly diskPath: string;
}

/**
 * Measures free disk space where the run directory is (or will be) and the memory available to
 * this process: `os.freemem()` — which counts page cache as used, so it is raised to
 * `MemAvailable` of `/proc/meminfo` when that is readable — capped by the cgroup v2 limit
 * (`/sys/fs/cgroup/memory.max` minus `memory.current`) when one is set.
 *
 * @example
 * ```ts
 * const resources = await readMachineResources('runs/my-fusion');
 * resources.freeDiskBytes; // bytes
 * ```
 */
export async function readMachineResources(runDir: string): Promise<MachineResources> {
  let diskPath = resolve(runDir);
  let disk: Awaited<ReturnType<typeof statfs>> | undefined;
  for (;;) {
    try {
      disk = await statfs(diskPath);
      break;
    } catch {
      const parent = dirname(diskPath);
      if (parent === diskPath) break;
      diskPath = parent;
    }
  }
  const freeDiskBytes =
    disk === undefined ? Number.POSITIVE_INFINITY : Number(disk.bavail) * Number(disk.bsize);
  let available = freemem();
  const meminfo = await readFile('/proc/meminfo', 'utf8').catch(() => undefined);
  const match = meminfo?.match(/^MemAvailable:\s+(\d+) kB/m);
  if (match) available = Math.max(available, Number(match[1]) * 1024);
  const cgroupLimitBytes = await readCgroupNumber('/sys/fs/cgroup/memory.max');
  if (cgroupLimitBytes !== undefined) {
    const used = (await readCgroupNumber('/sys/fs/cgroup/memory.current')) ?? 0;
    available = Math.min(available, Math.max(0, cgroupLimitBytes - used));
  }
  return {
    freeDiskBytes,
    availableMemoryBytes: available,
    totalMemoryBytes: Math.min(totalmem(), cgroupLimitBytes ?? Number.POSITIVE_INFINITY),
    cgroupLimitBytes,
    diskPath,
  };
}

async function readCgroupNumber(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const value = Number(text.trim());
  return Number.isFinite(value) && value > 0 ? value : undefined; // "max": no limit
}
