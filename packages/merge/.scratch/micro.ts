import { createRandom } from '../../core/src/index.ts';
import { builtinMergeMethods } from '../src/index.ts';
const n = 10_485_760;
let st = 12345; const rnd = () => { st ^= st << 13; st ^= st >>> 17; st ^= st << 5; return (st >>> 0) / 4294967296 - 0.5; };
const base = new Float32Array(n); for (let i = 0; i < n; i++) base[i] = rnd() * 0.1;
const mk = (s: number) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = base[i]! + 0.002 * s * rnd(); return a; };
const t1 = mk(2), t2 = mk(3);
const b = base.slice(), a1 = t1.slice(), a2 = t2.slice();
for (const name of process.argv.slice(2) as ('ties' | 'sce')[]) {
  const m = builtinMergeMethods[name];
  const per = name === 'ties' || name.startsWith('dare') ? { weight: 1, density: 0.5 } : {};
  const glob = name === 'sce' ? { select_topk: 0.1 } : {};
  const times = [];
  for (let r = 0; r < 5; r++) {
    b.set(base); a1.set(t1); a2.set(t2);
    const s = performance.now();
    m.merge({ tensorName: 'x', shape: [n], base: b, models: [a1, a2].map((tensor, j) => ({ model: `m${j}`, tensor, parameters: m.parsePerModelParameters(per) })), parameters: m.parseParameters(glob), random: createRandom(0) });
    times.push(performance.now() - s);
  }
  console.log(name, 'min', Math.min(...times).toFixed(0), 'ms');
}
