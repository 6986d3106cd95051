// An fp16 rounding written from the definition (float64 arithmetic, no bit tricks), to check the
// store's bit-level conversion against.
export function referenceFloat16(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  const magnitude = Math.abs(x);
  if (magnitude === 0) return x;
  let exponent = Math.floor(Math.log2(magnitude));
  while (2 ** exponent > magnitude) exponent--;
  while (2 ** (exponent + 1) <= magnitude) exponent++;
  const ulp = 2 ** (Math.max(exponent, -14) - 10);
  const scaled = magnitude / ulp;
  let rounded = Math.floor(scaled);
  const remainder = scaled - rounded;
  if (remainder > 0.5 || (remainder === 0.5 && rounded % 2 === 1)) rounded++;
  const value = rounded * ulp;
  return Math.sign(x) * (value > 65504 ? Number.POSITIVE_INFINITY : value);
}
