import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError } from '@fusechat/core';
import type { TrainerCheckpointState } from './trainer-checkpoint-state.js';

/** A complete checkpoint directory in an output directory. */
export interface CheckpointEntry {
  readonly step: number;
  readonly dir: string;
}

export const CHECKPOINT_PREFIX = 'checkpoint-';
export const TRAINER_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

/**
 * The complete checkpoints (`checkpoint-<step>/` with a readable `trainer_state.json`) of an
 * output directory, oldest first. Temp and half-deleted directories never count.
 *
 * @example
 * ```ts
 * const latest = (await listCheckpoints('out/train')).at(-1); // { step: 400, dir: 'out/train/checkpoint-400' }
 * ```
 */
export async function listCheckpoints(outputDir: string): Promise<CheckpointEntry[]> {
  let names: string[];
  try {
    names = await readdir(outputDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const found: CheckpointEntry[] = [];
  for (const name of names) {
    const match = /^checkpoint-(\d+)$/.exec(name);
    if (match === null) continue;
    const dir = join(outputDir, name);
    const state = await readTrainerState(dir).catch(() => undefined);
    if (state !== undefined && state.globalStep === Number(match[1]))
      found.push({ step: state.globalStep, dir });
  }
  return found.sort((a, b) => a.step - b.step);
}

/** Reads and minimally checks `trainer_state.json` of a checkpoint directory. */
export async function readTrainerState(dir: string): Promise<TrainerCheckpointState> {
  const path = join(dir, TRAINER_STATE_FILE);
  let state: TrainerCheckpointState;
  try {
    state = JSON.parse(await readFile(path, 'utf8')) as TrainerCheckpointState;
  } catch (cause) {
    throw new FileFormatError(
      'TRAIN_CHECKPOINT_CORRUPT',
      `cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}; the checkpoint is damaged (resume from another one, or with resume: never).`,
      { path, cause },
    );
  }
  if (state?.format !== 'fusechat-trainer-state' || !Number.isInteger(state.globalStep)) {
    throw new FileFormatError('TRAIN_CHECKPOINT_CORRUPT', `${path} is not a fusechat trainer state.`, {
      path,
    });
  }
  return state;
}
