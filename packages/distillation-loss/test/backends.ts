// Test-only: selects a tfjs backend by name through @fusechat/backend, as training does.
import { initBackend } from '@fusechat/backend';

export const BACKENDS = ['cpu', 'wasm'] as const;
export type BackendName = (typeof BACKENDS)[number];

/**
 * Switches tfjs to `name`. (Never set tfjs's `IS_TEST` flag: its kernel leak check counts the
 * tensors a custom gradient keeps for the backward pass as leaks.)
 */
export async function useBackend(name: BackendName): Promise<void> {
  await initBackend(name, { quiet: true });
}
