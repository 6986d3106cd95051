import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  formatLoss,
  formatNumber,
  formatPercent,
  formatSeconds,
  formatSigned,
} from './format.js';

describe('report number formats', () => {
  it('numbers keep four significant digits, group thousands and name what is missing', () => {
    expect(formatNumber(82.2695)).toBe('82.27');
    expect(formatNumber(1352.7)).toBe('1,353');
    expect(formatNumber(0.012345)).toBe('0.01235');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(undefined)).toBe('—');
    expect(formatNumber(Number.NaN)).toBe('—');
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('∞');
    expect(formatLoss(4.4149)).toBe('4.415');
    expect(formatSigned(-0.1)).toBe('−0.100');
    expect(formatSigned(0.05)).toBe('+0.050');
    expect(formatPercent(0.4125)).toBe('41.3%');
  });

  it('bytes in binary units, seconds in s / min / h without a 60 in the last place', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(12.5 * 1024 * 1024)).toBe('12.5 MiB');
    expect(formatBytes(8 * 1024 ** 3)).toBe('8.0 GiB');
    expect(formatBytes(undefined)).toBe('—');
    expect(formatSeconds(0.423)).toBe('0.42 s');
    expect(formatSeconds(21.44)).toBe('21.4 s');
    expect(formatSeconds(95.2)).toBe('1 min 35 s');
    expect(formatSeconds(119.6)).toBe('2 min 00 s');
    expect(formatSeconds(3599.7)).toBe('1 h 00 min');
    expect(formatSeconds(7440)).toBe('2 h 04 min');
  });
});
