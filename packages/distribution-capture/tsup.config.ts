import { defineConfig } from 'tsup';

export default defineConfig({
  // The alignment worker is its own entry, emitted beside index.js as align-worker.js / .cjs.
  entry: { index: 'src/index.ts', 'align-worker': 'src/align-store/align-worker.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // import.meta.url in the CommonJS build, as in ESM.
  shims: true,
});
