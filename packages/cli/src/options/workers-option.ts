import { Option } from 'commander';
import { POSITIVE_INTEGER, parseNumberOption } from './parse-number-option.js';

/** `--workers`, for commands that train: data-parallel replicas (`train({ workers })`). */
export function workersOption(): Option {
  return new Option(
    '--workers <n>',
    'data-parallel training replicas: worker threads with a copy of the model, one core each (default 1; auto = the cores, at most 8); with --workers above 1 the wasm backend runs at 1 thread for every stage (capture and eval too) unless --threads says otherwise',
  );
}

/** `--workers`: a positive integer or `auto` (default 1). */
export function parseWorkersOption(value: string | undefined): number | 'auto' {
  if (value === undefined) return 1;
  if (value === 'auto') return 'auto';
  return parseNumberOption(value, 'workers', POSITIVE_INTEGER);
}

/**
 * The `--threads` to start the backend with: as given, else 1 when replicas train (each replica is
 * one core, this thread's backend included), else the backend's default.
 */
export function threadsWithWorkers(
  threads: string | undefined,
  workers: number | 'auto',
): string | undefined {
  return threads ?? (workers === 'auto' || workers > 1 ? '1' : undefined);
}
