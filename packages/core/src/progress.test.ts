import { describe, expect, it } from 'vitest';
import { createProgressPrinter } from './progress.js';

function fakeStream() {
  const lines: string[] = [];
  return {
    lines,
    stream: { isTTY: false, write: (text: string) => lines.push(text) } as unknown as NodeJS.WriteStream,
  };
}

describe('createProgressPrinter', () => {
  it('counts the rate from a first zero event, which it does not print', () => {
    const { lines, stream } = fakeStream();
    let clock = 0;
    const progress = createProgressPrinter({ stream, intervalMs: 0, now: () => clock });
    progress({ task: 'capture', completed: 0, total: 40, unit: 'examples' });
    expect(lines).toEqual([]);
    clock = 4000;
    progress({ task: 'capture', completed: 20, total: 40, unit: 'examples' });
    // 20 examples in 4 s: 5/s, 4 s to go.
    expect(lines).toEqual(['capture: 20/40 examples 50.0% (5.00 examples/s) eta 4.0 s\n']);
  });

  it('without a zero event the clock starts at the first event, and only later work has a rate', () => {
    const { lines, stream } = fakeStream();
    let clock = 1000;
    const progress = createProgressPrinter({ stream, intervalMs: 0, now: () => clock });
    progress({ task: 'align', completed: 2, unit: 'examples' });
    // The 2 examples done before the first event took an unknown time: no rate, no ETA.
    expect(lines.at(-1)).toBe('align: 2 examples\n');
    clock = 3000;
    progress({ task: 'align', completed: 12, unit: 'examples' });
    // 10 more in 2 s.
    expect(lines.at(-1)).toBe('align: 12 examples (5.00 examples/s)\n');
  });

  it('a first event far along (a resumed or batched task) does not claim millions per second', () => {
    const { lines, stream } = fakeStream();
    let clock = 0;
    const progress = createProgressPrinter({ stream, intervalMs: 0, now: () => clock });
    progress({ task: 'capture', completed: 127, total: 144, unit: 'examples' });
    expect(lines.at(-1)).toBe('capture: 127/144 examples 88.2%\n');
    clock = 500;
    progress({ task: 'capture', completed: 144, total: 144, unit: 'examples' });
    expect(lines.at(-1)).toBe('capture: 144/144 examples 100.0% (34 examples/s)\n');
  });
});
