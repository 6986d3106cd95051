import { Option } from 'commander';

/** Backend names accepted by `--backend` on every command. */
export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

/** `--backend`, shared by every command (commands without tensor math accept and ignore it). */
export function backendOption(): Option {
  return new Option('--backend <name>', 'tensor backend').choices([...BACKEND_CHOICES]).default('auto');
}
