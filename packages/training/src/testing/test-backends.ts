// Test helper: switch the tfjs backend (cpu or wasm) for a test file.
import { registerCoreGradients } from '@fusechat/backend';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

export const TEST_BACKENDS = ['cpu', 'wasm'] as const;

export async function useBackend(name: (typeof TEST_BACKENDS)[number]): Promise<void> {
  registerCoreGradients();
  if (tf.getBackend() === name) return;
  if (!(await tf.setBackend(name))) throw new Error(`could not initialise the ${name} backend`);
  await tf.ready();
}
