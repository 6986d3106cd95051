/**
 * Progress of a long task. Stages call `onProgress` with cumulative counts; the CLI renders
 * them, a library user may log them or ignore them.
 */
export interface ProgressEvent {
  /** What is running, e.g. `merge`, `capture`, `train`. */
  readonly task: string;
  /** Units done so far. */
  readonly completed: number;
  /** Units in all, when known. */
  readonly total?: number | undefined;
  /** What a unit is: `tensors`, `examples`, `tokens`, `bytes`, `steps`. */
  readonly unit?: string | undefined;
  /** Short detail about the current unit, e.g. a tensor name. */
  readonly detail?: string | undefined;
}

export type ProgressCallback = (event: ProgressEvent) => void;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Minimal structured logger; `fields` are machine-readable context. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/** A logger that drops everything. */
export const silentLogger: Logger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/**
 * A logger writing one line per message to a stream (stderr by default), so stdout stays free
 * for a command's result.
 *
 * @example
 * ```ts
 * const logger = createConsoleLogger({ level: 'info' });
 * logger.info('loaded model', { parameters: 1.2e6 });
 * ```
 */
export function createConsoleLogger(
  options: { level?: LogLevel; write?: (line: string) => void; prefix?: string } = {},
): Logger {
  const threshold = LEVELS[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const prefix = options.prefix ?? '';
  const emit =
    (level: Exclude<LogLevel, 'silent'>) => (message: string, fields?: Record<string, unknown>) => {
      if (LEVELS[level] < threshold) return;
      const tag = level === 'info' ? '' : `${level}: `;
      const context = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
      write(`${prefix}${tag}${message}${context}`);
    };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/**
 * A {@link ProgressCallback} that renders a throttled status line with rate and ETA: in place on
 * a TTY, as occasional lines otherwise (so CI logs stay short).
 */
export function createProgressPrinter(
  options: { stream?: NodeJS.WriteStream; intervalMs?: number; now?: () => number } = {},
): ProgressCallback & { finish(): void } {
  const stream = options.stream ?? process.stderr;
  const interactive = Boolean(stream.isTTY);
  const interval = options.intervalMs ?? (interactive ? 100 : 5_000);
  const now = options.now ?? (() => performance.now());
  /** When each task's first event came, and how much was done by then (a resumed task starts above 0). */
  const started = new Map<string, { readonly at: number; readonly completed: number }>();
  let lastPrint = Number.NEGATIVE_INFINITY;
  let lastTask: string | undefined;
  let pending: string | undefined;

  const render = (event: ProgressEvent): string => {
    const start = started.get(event.task) ?? { at: now(), completed: 0 };
    const seconds = Math.max((now() - start.at) / 1000, 1e-9);
    // Only what was done since the clock started counts: work done before the first event (a
    // resumed capture, a first batch reported at once) has no known duration.
    const progressed = event.completed - start.completed;
    const rate = progressed > 0 ? progressed / seconds : Number.NaN;
    const unit = event.unit ? ` ${event.unit}` : '';
    const total = event.total !== undefined ? `/${event.total}` : '';
    const percent =
      event.total !== undefined && event.total > 0
        ? ` ${((100 * event.completed) / event.total).toFixed(1)}%`
        : '';
    const eta =
      event.total !== undefined && Number.isFinite(rate) && rate > 0 && event.completed < event.total
        ? ` eta ${formatDuration((event.total - event.completed) / rate)}`
        : '';
    const detail = event.detail ? ` ${event.detail}` : '';
    const speed = Number.isFinite(rate) ? ` (${formatRate(rate)}${unit}/s)` : '';
    return `${event.task}: ${event.completed}${total}${unit}${percent}${speed}${eta}${detail}`;
  };

  const print = (line: string) => {
    if (interactive) stream.write(`\r\u001b[2K${line.slice(0, (stream.columns ?? 120) - 1)}`);
    else stream.write(`${line}\n`);
    pending = undefined;
  };

  const callback = (event: ProgressEvent) => {
    if (!started.has(event.task)) {
      started.set(event.task, { at: now(), completed: event.completed });
      // A first event with nothing done only starts the clock (rates and ETAs count from it).
      if (event.completed === 0) return;
    }
    if (lastTask !== undefined && lastTask !== event.task && interactive) stream.write('\n');
    lastTask = event.task;
    const line = render(event);
    const done = event.total !== undefined && event.completed >= event.total;
    if (done || now() - lastPrint >= interval) {
      lastPrint = now();
      print(line);
    } else {
      pending = line;
    }
  };
  return Object.assign(callback, {
    finish() {
      if (pending !== undefined) print(pending);
      if (interactive && lastTask !== undefined) stream.write('\n');
      lastTask = undefined;
    },
  });
}

/** `1.5 s`, `2 min 3 s`, `1 h 4 min`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** `512 B`, `1.50 KiB`, `3.20 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(2)} ${units[unit]}`;
}

function formatRate(rate: number): string {
  if (rate >= 1e9) return `${(rate / 1e9).toFixed(2)}G`;
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)}M`;
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(2)}k`;
  return rate >= 10 ? rate.toFixed(0) : rate.toFixed(2);
}
