import { brotliCompressSync, constants } from 'node:zlib';
import { BitWriter, bitWidth } from '../src/bit-packing.ts';
import { float16Bits, float16Key, float16Value } from '../src/float16.ts';
import { createSyntheticSource } from './synthetic.ts';

const varint = (vals: ArrayLike<number>) => {
  const o: number[] = [];
  for (let i = 0; i < vals.length; i++) {
    let v = vals[i]!;
    while (v >= 128) {
      o.push((v & 127) | 128);
      v >>>= 7;
    }
    o.push(v);
  }
  return new Uint8Array(o);
};
const br = (b: Uint8Array) =>
  brotliCompressSync(b, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_LGWIN]: 22 },
  }).length;
for (const V of [32000, 151936]) {
  const k = 10;
  // zipf entropy
  let Z = 0;
  for (let r = 0; r < V; r++) Z += 1 / (r + 1) ** 1.05;
  let H = 0;
  for (let r = 0; r < V; r++) {
    const p = 1 / (r + 1) ** 1.05 / Z;
    H -= p * Math.log2(p);
  }
  console.log(
    V,
    'zipf entropy bits',
    H.toFixed(2),
    '→ 10 ids',
    ((H * 10) / 8).toFixed(2),
    'B (upper bound-ish, distinctness lowers)',
  );
  const src = createSyntheticSource({ vocabSize: V, k });
  const recs = Array.from({ length: 32 }, (_, i) => src.record(i));
  const tokens = recs.reduce((a, r) => a + r.inputIds.length, 0);
  const toks: number[] = [];
  const slots: number[] = [];
  const lits: number[] = [];
  const mask: number[] = [];
  for (const r of recs)
    for (let t = 0; t < r.inputIds.length; t++) {
      toks.push(r.inputIds[t]!);
      mask.push(r.labelMask[t]!);
      let slot = k;
      if (t > 0)
        for (let i = 0; i < k; i++)
          if (r.topK.ids[(t - 1) * k + i] === r.inputIds[t]) {
            slot = i;
            break;
          }
      slots.push(slot);
      if (slot === k) lits.push(r.inputIds[t]!);
    }
  const bw = new BitWriter();
  bw.writeAll(toks, bitWidth(V));
  const tb = bw.finish();
  console.log(
    V,
    'tokens bitpacked',
    (tb.length / tokens).toFixed(2),
    'br',
    (br(tb) / tokens).toFixed(2),
    'varint br',
    (br(varint(toks)) / tokens).toFixed(2),
    'slot+literal br',
    ((br(new Uint8Array(slots)) + br(varint(lits))) / tokens).toFixed(2),
    'combined stream br',
    (br(new Uint8Array([...slots, ...varint(lits)])) / tokens).toFixed(2),
  );
  const mb = new BitWriter();
  mb.writeAll(mask, 1);
  console.log(
    V,
    'mask bits br',
    (br(mb.finish()) / tokens).toFixed(3),
    'bytes br',
    (br(new Uint8Array(mask)) / tokens).toFixed(3),
  );
  for (const step of [1 / 8, 1 / 16, 1 / 32]) {
    const codes: number[] = [];
    const maxes: number[] = [];
    let kl = 0;
    let rows = 0;
    for (const r of recs)
      for (let t = 0; t < r.inputIds.length; t++) {
        const h0 = float16Bits(r.topK.logits[t * k]!);
        maxes.push(float16Key(h0));
        const m = float16Value(h0);
        const exact: number[] = [];
        const q: number[] = [];
        let prev = 0;
        for (let i = 0; i < k; i++) {
          const v = float16Value(float16Bits(r.topK.logits[t * k + i]!));
          exact.push(v);
          const c = Math.round((m - v) / step);
          if (i > 0) {
            codes.push(c - prev);
          }
          prev = c;
          q.push(m - c * step);
        }
        const lse = (a: number[]) => {
          const mx = Math.max(...a);
          return mx + Math.log(a.reduce((s, x) => s + Math.exp(x - mx), 0));
        };
        const lp = lse(exact),
          lq = lse(q);
        let d = 0;
        for (let i = 0; i < k; i++) {
          const p = Math.exp(exact[i]! - lp);
          d += p * (exact[i]! - lp - (q[i]! - lq));
        }
        kl += d;
        rows++;
      }
    const planes = (vals: number[]) => {
      const o = new Uint8Array(vals.length * 2);
      for (let i = 0; i < vals.length; i++) {
        o[i] = vals[i]! & 255;
        o[vals.length + i] = vals[i]! >>> 8;
      }
      return o;
    };
    console.log(
      V,
      'quantized step',
      step,
      'deltas varint br',
      ((br(varint(codes)) + br(planes(maxes))) / tokens).toFixed(2),
      'mean KL',
      (kl / rows).toExponential(2),
    );
  }
}
