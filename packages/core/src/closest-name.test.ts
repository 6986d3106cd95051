import { describe, expect, it } from 'vitest';
import { closestName } from './closest-name.js';

describe('closestName', () => {
  it('suggests a plausible typo, case-insensitively, first on ties, nothing when too far', () => {
    expect(closestName('lerning_rate', ['weight_decay', 'learning_rate'])).toBe('learning_rate');
    expect(closestName('TIES', ['ties', 'dare_ties'])).toBe('ties');
    expect(closestName('ab', ['ac', 'ad'])).toBe('ac');
    expect(closestName('xyz', ['learning_rate'])).toBeUndefined();
    expect(closestName('seed', ['sed'], 0)).toBeUndefined();
  });
});
