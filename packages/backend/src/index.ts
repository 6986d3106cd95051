export {
  BACKEND_FALLBACK_ORDER,
  type BackendInfo,
  type BackendName,
  type BackendRequest,
  isBackendRequest,
  listBackends,
} from './backend-names.js';
export { type BackendDescription, describeBackend, wasmHeapBytes } from './describe-backend.js';
export {
  type BackendAttempt,
  type BackendSelection,
  currentBackend,
  type InitBackendOptions,
  initBackend,
  type ModuleImporter,
} from './init-backend.js';
export { hasFastKernels, installFastKernels } from './kernels/install-fast-kernels.js';
export { registerCoreGradients } from './kernels/register-core-gradients.js';
export { type MeasureMatMulOptions, measureMatMulGflops } from './measure-mat-mul-gflops.js';
export { type BatchMatMulOptions, batchMatMul } from './ops/batch-mat-mul.js';
export { embeddingLookup } from './ops/embedding-lookup.js';
export { linear } from './ops/linear.js';
