import { join } from 'node:path';
import { IntegrityError } from '@fusechat/core';
import { type CausalLM, peftTensorName } from '@fusechat/model';
import { openCheckpoint, openSafetensors } from '@fusechat/safetensors';
import * as tf from '@tensorflow/tfjs-core';
import type { AdamW } from '../optimizer/create-adamw.js';
import { OPTIMIZER_FILE, readTrainerState } from './list-checkpoints.js';
import { optimizerTensorName } from './save-checkpoint.js';
import type { TrainerCheckpointState } from './trainer-checkpoint-state.js';

/** What a checkpoint must match to be resumed. */
export interface CheckpointExpectation {
  readonly datasetFingerprint: string;
  readonly modelIdentity: string;
  readonly lora: TrainerCheckpointState['lora'];
}

/**
 * Reads `checkpoint-<step>/`, refuses it when it belongs to other data, another starting model
 * or other LoRA settings (`TRAIN_RESUME_MISMATCH`, before anything is changed), then restores the
 * trainable weights (the HF-layout model, or the PEFT adapter) and the optimizer state in place.
 * Returns the trainer state.
 *
 * @example
 * ```ts
 * const state = await loadCheckpoint('out/checkpoint-40', { model, optimizer, expected });
 * state.globalStep; // 40
 * ```
 */
export async function loadCheckpoint(
  dir: string,
  options: { model: CausalLM; optimizer: AdamW; expected: CheckpointExpectation },
): Promise<TrainerCheckpointState> {
  const { model, optimizer } = options;
  const state = await assertResumable(dir, options.expected);
  const mismatch = (what: string, saved: unknown, now: unknown) => resumeMismatch(dir, what, saved, now);

  // Read everything before assigning anything, so a bad file leaves the model untouched.
  const values = new Map<string, Float32Array>();
  if (model.adapters.size > 0) {
    const file = await openSafetensors(join(dir, 'adapter_model.safetensors'));
    try {
      for (const adapter of model.adapters.values()) {
        for (const [matrix, variable] of [
          ['A', adapter.a],
          ['B', adapter.b],
        ] as const) {
          const name = peftTensorName(adapter.module, matrix);
          if (!file.tensors.has(name)) throw mismatch('LoRA adapter', 'no tensor', name);
          values.set(variable.name, await file.readFloat32(name));
        }
      }
    } finally {
      await file.close();
    }
  } else {
    const checkpoint = await openCheckpoint(dir);
    try {
      for (const [name, variable] of model.namedTrainableVariables()) {
        if (!checkpoint.tensors.has(name)) throw mismatch('model', 'no tensor', name);
        values.set(variable.name, await checkpoint.readFloat32(name));
      }
    } finally {
      await checkpoint.close();
    }
  }
  const byVariable = new Map([...model.trainableVariables()].map((variable) => [variable.name, variable]));
  for (const [variableName, data] of values) {
    const variable = byVariable.get(variableName)!;
    if (data.length !== variable.size)
      throw mismatch('model', `${data.length} values`, `${variable.size} in ${variable.name}`);
  }
  const file = await openSafetensors(join(dir, OPTIMIZER_FILE));
  const expAvg = new Map<string, Float32Array>();
  const expAvgSq = new Map<string, Float32Array>();
  try {
    for (const name of optimizer.variables.keys()) {
      for (const [moment, into] of [
        ['exp_avg', expAvg],
        ['exp_avg_sq', expAvgSq],
      ] as const) {
        const tensor = optimizerTensorName(name, moment);
        if (file.tensors.has(tensor)) into.set(name, await file.readFloat32(tensor));
      }
    }
    optimizer.loadState({ step: Number(file.metadata.step), expAvg, expAvgSq });
  } finally {
    await file.close();
  }
  for (const [variableName, data] of values) {
    const variable = byVariable.get(variableName)!;
    tf.tidy(() => variable.assign(tf.tensor(data, variable.shape, 'float32')));
  }
  return state;
}

/**
 * Reads a checkpoint's trainer state and refuses it (`TRAIN_RESUME_MISMATCH`) when its dataset
 * fingerprint, starting-model identity or LoRA settings differ from `expected`. Touches nothing.
 *
 * @example
 * ```ts
 * await assertResumable('out/checkpoint-40', { datasetFingerprint, modelIdentity, lora: null });
 * ```
 */
export async function assertResumable(
  dir: string,
  expected: CheckpointExpectation,
): Promise<TrainerCheckpointState> {
  const state = await readTrainerState(dir);
  if (state.datasetFingerprint !== expected.datasetFingerprint)
    throw resumeMismatch(dir, 'dataset', state.datasetFingerprint, expected.datasetFingerprint);
  if (state.modelIdentity !== expected.modelIdentity)
    throw resumeMismatch(dir, 'model', state.modelIdentity, expected.modelIdentity);
  if (JSON.stringify(state.lora) !== JSON.stringify(expected.lora))
    throw resumeMismatch(dir, 'LoRA configuration', state.lora, expected.lora);
  return state;
}

function resumeMismatch(dir: string, what: string, saved: unknown, now: unknown): IntegrityError {
  return new IntegrityError(
    'TRAIN_RESUME_MISMATCH',
    `${dir} was trained with another ${what} (${JSON.stringify(saved)} there, ${JSON.stringify(now)} now): resume with the same ${what}, or start over with resume: 'never' / another output directory.`,
    { details: { checkpoint: dir, field: what, saved, now } },
  );
}
