import { defineConfig } from 'tsup';

export default defineConfig({
  // The data-parallel replica is its own entry, emitted beside index.js as gradient-worker.js / .cjs.
  entry: { index: 'src/index.ts', 'gradient-worker': 'src/parallel/gradient-worker.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // import.meta.url in the CommonJS build, as in ESM.
  shims: true,
});
