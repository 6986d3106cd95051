import { defineConfig } from 'tsup';

export default defineConfig({
  // The worker is its own entry, emitted beside index.js as merge-worker.js / .cjs.
  entry: { index: 'src/index.ts', testing: 'src/testing.ts', 'merge-worker': 'src/engine/merge-worker.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  // import.meta.url (to find the worker) in the CommonJS build.
  shims: true,
  // The conformance suite runs inside the plug-in author's vitest.
  external: ['vitest'],
  target: 'node20',
});
