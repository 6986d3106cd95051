import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { chooseWasmThreads, measureIdleCores } from './idle-cores.js';

describe('measureIdleCores', () => {
  it('reports this process’s cores and an idle count between 0 and them', async () => {
    const { cores, idle } = await measureIdleCores(50);
    expect(cores).toBe(availableParallelism());
    expect(idle).toBeGreaterThanOrEqual(0);
    expect(idle).toBeLessThanOrEqual(cores);
  });
});

describe('chooseWasmThreads', () => {
  it('takes the idle cores, rounded', () => {
    expect(chooseWasmThreads({ idle: 1.9, cores: 2 }, 8)).toEqual({ threads: 2, why: '' });
    expect(chooseWasmThreads({ idle: 2.6, cores: 4 }, 8)).toEqual({
      threads: 3,
      why: ' (2.6 of 4 cores idle; --threads 4 to use them all)',
    });
  });

  it('keeps at least one thread, and says why when the cores are busy', () => {
    expect(chooseWasmThreads({ idle: 0, cores: 2 }, 8)).toEqual({
      threads: 1,
      why: ' (0.0 of 2 cores idle; --threads 2 to use them all)',
    });
    expect(chooseWasmThreads({ idle: 0.4, cores: 1 }, 8)).toEqual({ threads: 1, why: '' });
  });

  it('stops at the cap without calling that a shortage', () => {
    expect(chooseWasmThreads({ idle: 30, cores: 32 }, 8)).toEqual({ threads: 8, why: '' });
    expect(chooseWasmThreads({ idle: 5.2, cores: 32 }, 8)).toEqual({
      threads: 5,
      why: ' (5.2 of 32 cores idle; --threads 8 to use them all)',
    });
  });
});
