// Test-only: selects a tfjs backend by name. Library code never imports a backend.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

const require = createRequire(import.meta.url);
setWasmPaths(`${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`);

export const BACKENDS = ['cpu', 'wasm'] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * Switches tfjs to `name`. (Never set tfjs's `IS_TEST` flag: its kernel leak check counts the
 * tensors a custom gradient keeps for the backward pass as leaks.)
 */
export async function useBackend(name: BackendName): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`could not initialise the ${name} backend`);
  await tf.ready();
}
