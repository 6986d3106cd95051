/**
 * A small, fast, seeded pseudo-random generator (xoshiro128**, seeded through splitmix32) so
 * that everything random in fusechat — DARE masks, weight init, data shuffles, sampling — is
 * reproducible from one integer seed, on every platform.
 *
 * @example
 * ```ts
 * const rng = createRandom(42);
 * rng.float();            // in [0, 1)
 * rng.normal();           // standard normal
 * const child = rng.fork('dare:model.layers.0.mlp.up_proj.weight'); // independent stream
 * ```
 */
export interface Random {
  /** The seed this generator was created from. */
  readonly seed: number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform float in [0, 1) with 32 bits of randomness (enough for float32 work). */
  float(): number;
  /** Uniform float in [0, 1) with 53 bits of randomness. */
  float64(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal sample (Box–Muller). */
  normal(): number;
  /** Fills `out` with samples of N(mean, std²) and returns it. */
  fillNormal<T extends Float32Array | Float64Array>(out: T, mean?: number, std?: number): T;
  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[];
  /** An independent generator derived from this seed and a label; does not advance this one. */
  fork(label: string | number): Random;
}

/** Creates a {@link Random} from an integer seed (any JS number; only the low 32 bits count). */
export function createRandom(seed: number): Random {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  let splitState = seed >>> 0;
  const splitmix32 = () => {
    splitState = (splitState + 0x9e3779b9) >>> 0;
    let z = splitState;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let s0 = splitmix32();
  let s1 = splitmix32();
  let s2 = splitmix32();
  let s3 = splitmix32();
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  let spareNormal: number | undefined;

  const uint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
  const float = () => uint32() / 4294967296;
  const float64 = () => ((uint32() >>> 5) * 67108864 + (uint32() >>> 6)) / 9007199254740992;
  const normal = (): number => {
    if (spareNormal !== undefined) {
      const value = spareNormal;
      spareNormal = undefined;
      return value;
    }
    let u = 0;
    while (u === 0) u = float64();
    const v = float64();
    const radius = Math.sqrt(-2 * Math.log(u));
    spareNormal = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  };
  return {
    seed,
    uint32,
    float,
    float64,
    int(n: number) {
      if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32)
        throw new RangeError(`int(n) needs an integer 1 ≤ n ≤ 2^32, got ${n}`);
      // Rejection sampling: no modulo bias.
      const limit = 4294967296 - (4294967296 % n);
      let x = uint32();
      while (x >= limit) x = uint32();
      return x % n;
    },
    normal,
    fillNormal(out, mean = 0, std = 1) {
      for (let i = 0; i < out.length; i++) out[i] = mean + std * normal();
      return out;
    },
    shuffle(items) {
      for (let i = items.length - 1; i > 0; i--) {
        const j = this.int(i + 1);
        const tmp = items[i]!;
        items[i] = items[j]!;
        items[j] = tmp;
      }
      return items;
    },
    fork(label) {
      return createRandom((hashString(`${seed}:${label}`) ^ Math.imul(seed >>> 0, 0x27d4eb2d)) >>> 0);
    },
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** FNV-1a 32-bit hash of a string's UTF-16 code units: cheap and stable, not cryptographic. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
