import * as tf from '@tensorflow/tfjs-core';
import type { LossSettings } from '../trainer/accumulate-gradients.js';
import type { TrainingBatch } from '../training-batch.js';

/** Where one tensor lives in a shared float32 buffer: `[offset, offset + size)` in elements. */
export interface TensorSlot {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

/** What a replica is started with (`workerData`). */
export interface GradientWorkerSetup {
  readonly backend: 'wasm' | 'cpu';
  /** wasm threads of the replica's own backend. */
  readonly threads: number;
  readonly modelType: string;
  /** The model's `config.json` (`architecture.toHfConfig`). */
  readonly hfConfig: Record<string, unknown>;
  readonly lora?: {
    readonly rank: number;
    readonly alpha: number;
    readonly targetModules: readonly string[];
  };
  /** Every base weight, copied once at start. */
  readonly baseWeights: readonly TensorSlot[];
  readonly baseBuffer: SharedArrayBuffer;
  /** The trainable variables, rewritten by the trainer before every step. */
  readonly trainable: readonly TensorSlot[];
  readonly weightBuffer: SharedArrayBuffer;
  /** This replica's summed gradients, in the layout of `trainable`. */
  readonly gradientBuffer: SharedArrayBuffer;
  readonly settings: LossSettings;
}

export interface GradientWorkerRequest {
  readonly id: number;
  readonly batches: readonly TrainingBatch[];
  /** `N` of the whole step. */
  readonly totalSupervisedPositions: number;
}

export interface SerializedError {
  readonly name: string;
  /** Thrown as a `FuseChatError` (any subclass). */
  readonly fuseChatError: boolean;
  readonly message: string;
  readonly code: string | undefined;
  readonly details: Record<string, unknown> | undefined;
}

export type GradientWorkerResponse =
  | { readonly type: 'ready' }
  | {
      readonly type: 'done';
      readonly id: number;
      readonly loss: number;
      readonly clm: number;
      readonly fusion: number;
      readonly tokens: number;
    }
  | { readonly type: 'error'; readonly id?: number; readonly error: SerializedError };

/**
 * A slot of a shared buffer to make a tensor from: a view on wasm, whose backend copies it into its
 * heap anyway; a copy on cpu, whose backend would keep the view, which the next step overwrites.
 */
export function sharedSlot(values: Float32Array, slot: TensorSlot): Float32Array {
  const view = values.subarray(slot.offset, slot.offset + slot.size);
  return tf.getBackend() === 'wasm' ? view : view.slice();
}
