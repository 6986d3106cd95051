import { availableParallelism, cpus } from 'node:os';

/** What {@link measureIdleCores} saw. */
export interface IdleCores {
  /** Cores this process may use (`os.availableParallelism()`: affinity and cgroup limits included). */
  readonly cores: number;
  /** Of those, how many were idle — not running other processes — during the window (fractional). */
  readonly idle: number;
}

/**
 * How many of this process's cores other processes leave idle right now: the machine's idle CPU
 * time over a short window (from `os.cpus()`), plus this process's own CPU time in it, divided by
 * the window, capped at {@link IdleCores.cores}. Unlike the load average (a one-minute mean that
 * lags, and counts blocked tasks) it reflects the moment a thread pool is sized.
 *
 * @example
 * ```ts
 * const { idle, cores } = await measureIdleCores(); // { idle: 1.9, cores: 2 } on a quiet 2-core machine
 * ```
 */
export async function measureIdleCores(windowMs = 200): Promise<IdleCores> {
  const cores = typeof availableParallelism === 'function' ? availableParallelism() : cpus().length;
  const idleMs = () => cpus().reduce((total, cpu) => total + cpu.times.idle, 0);
  const ownBefore = process.cpuUsage();
  const idleBefore = idleMs();
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const elapsed = performance.now() - start;
  const own = process.cpuUsage(ownBefore);
  const available = (idleMs() - idleBefore + (own.user + own.system) / 1000) / elapsed;
  return { cores, idle: Math.max(0, Math.min(cores, available)) };
}

/**
 * The default thread count for what {@link measureIdleCores} saw: the idle cores, rounded, at
 * least 1, at most `cap`; `why` explains a count below the cores (for the backend notice). A
 * thread pool on cores that other processes keep busy waits at every operation for its
 * descheduled threads: a training step on 2 cores at load average 7 ran at 0.5× its
 * single-threaded speed with 2 threads.
 *
 * @example
 * ```ts
 * chooseWasmThreads({ idle: 1.9, cores: 2 }, 8); // { threads: 2, why: '' }
 * chooseWasmThreads({ idle: 0.6, cores: 2 }, 8); // { threads: 1, why: ' (0.6 of 2 cores idle; …)' }
 * ```
 */
export function chooseWasmThreads(seen: IdleCores, cap: number): { threads: number; why: string } {
  const most = Math.max(1, Math.min(seen.cores, cap));
  const threads = Math.max(1, Math.min(Math.round(seen.idle), most));
  const why =
    threads < most
      ? ` (${seen.idle.toFixed(1)} of ${seen.cores} cores idle; --threads ${most} to use them all)`
      : '';
  return { threads, why };
}
