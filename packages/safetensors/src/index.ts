export { bfloat16ToFloat32, float32ToBfloat16 } from './bfloat16.js';
export {
  type CheckpointWriter,
  type CheckpointWriterOptions,
  createCheckpointWriter,
} from './create-checkpoint-writer.js';
export { DTYPE_BYTES, DTYPES, type DType, isDType } from './dtype.js';
export { float16ToFloat32, float32ToFloat16 } from './float16.js';
export {
  type Checkpoint,
  type CheckpointTensorInfo,
  type OpenCheckpointOptions,
  openCheckpoint,
} from './open-checkpoint.js';
export { openSafetensors, type SafetensorsFile } from './open-safetensors.js';
export { MAX_HEADER_BYTES, parseSafetensorsHeader, type SafetensorsHeader } from './parse-header.js';
export type { TensorArray, TensorData, TensorInfo } from './tensor-data.js';
export { fromFloat32, toFloat32 } from './to-float32.js';
export { type WriteSafetensorsOptions, writeSafetensors } from './write-safetensors.js';
