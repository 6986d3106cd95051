import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // import.meta.url locates the wasm binaries; shimmed in the CommonJS build.
  shims: true,
  // See src/kernels/register-core-gradients.ts: Node cannot load these modules from tfjs-core itself.
  noExternal: [/^@tensorflow\/tfjs-core\/dist\/gradients\//],
});
