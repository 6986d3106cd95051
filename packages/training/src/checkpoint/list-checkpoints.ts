import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  const state = JSON.parse(await readFile(join(dir, TRAINER_STATE_FILE), 'utf8')) as TrainerCheckpointState;
  if (state?.format !== 'fusechat-trainer-state' || !Number.isInteger(state.globalStep)) {
    throw new Error(`${join(dir, TRAINER_STATE_FILE)} is not a fusechat trainer state`);
  }
  return state;
}
