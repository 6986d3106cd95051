const n = 10_485_760;
let st = 12345; const rnd = () => { st ^= st << 13; st ^= st >>> 17; st ^= st << 5; return (st >>> 0) / 4294967296 - 0.5; };
const base = new Float32Array(n); for (let i = 0; i < n; i++) base[i] = rnd() * 0.1;
const d1 = new Float32Array(n), d2 = new Float32Array(n);
for (let i = 0; i < n; i++) { d1[i] = rnd() < 0 ? 0 : rnd() * 0.004; d2[i] = rnd() < 0 ? 0 : rnd() * 0.006; }
const b1 = new Uint32Array(d1.buffer), b2 = new Uint32Array(d2.buffer);
const out = new Float32Array(n);
function fused2(w0: number, w1: number, normalize: boolean, lambda: number) {
  const s0 = w0 < 0 ? 1 : 0, s1 = w1 < 0 ? 1 : 0;
  const tmp = new Float32Array(1), tb = new Uint32Array(tmp.buffer);
  for (let i = 0; i < n; i++) {
    const x0 = d1[i]!, x1 = d2[i]!;
    const a = w0 * x0, b = w1 * x1;
    tmp[0] = a + b;
    const maj = tb[0]! >>> 31;
    const u0 = b1[i]!, u1 = b2[i]!;
    const k0 = 1 - (((u0 >>> 31) ^ s0 ^ maj) | (((u0 & 0x7fffffff) - 1) >>> 31));
    const k1 = 1 - (((u1 >>> 31) ^ s1 ^ maj) | (((u1 & 0x7fffffff) - 1) >>> 31));
    const mixed = k0 * a + k1 * b;
    const div = k0 * w0 + k1 * w1;
    const v = normalize ? mixed / (div + ((k0 + k1 - 1) >>> 31)) : mixed;
    out[i] = base[i]! + lambda * v;
  }
}
for (let r = 0; r < 4; r++) { const s = performance.now(); fused2(1, 1, true, 1); console.log('fused2', (performance.now() - s).toFixed(1)); }
const deltas = [d1, d2], bitsArr = [b1, b2], weights = [1, 1];
function general(normalize: boolean, lambda: number) {
  const count = deltas.length;
  const signs = weights.map((w) => (w < 0 ? 1 : 0));
  const tmp = new Float32Array(1), tb = new Uint32Array(tmp.buffer);
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (let j = 0; j < count; j++) total += weights[j]! * deltas[j]![i]!;
    tmp[0] = total;
    const maj = tb[0]! >>> 31;
    let mixed = 0, div = 0, kept = 0;
    for (let j = 0; j < count; j++) {
      const u = bitsArr[j]![i]!;
      const k = 1 - (((u >>> 31) ^ signs[j]! ^ maj) | (((u & 0x7fffffff) - 1) >>> 31));
      mixed += k * weights[j]! * deltas[j]![i]!;
      div += k * weights[j]!;
      kept += k;
    }
    const v = normalize ? mixed / (div + ((kept - 1) >>> 31)) : mixed;
    out[i] = base[i]! + lambda * v;
  }
}
for (let r = 0; r < 4; r++) { const s = performance.now(); general(true, 1); console.log('general', (performance.now() - s).toFixed(1)); }
