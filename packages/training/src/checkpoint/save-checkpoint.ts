import { open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CausalLM, saveLoraAdapter, saveModel } from '@fusechat/model';
import { writeSafetensors } from '@fusechat/safetensors';
import type { AdamW } from '../optimizer/create-adamw.js';
import {
  CHECKPOINT_PREFIX,
  listCheckpoints,
  OPTIMIZER_FILE,
  TRAINER_STATE_FILE,
} from './list-checkpoints.js';
import type { TrainerCheckpointState } from './trainer-checkpoint-state.js';

/** Options of {@link saveCheckpoint}. */
export interface SaveCheckpointOptions {
  readonly outputDir: string;
  readonly model: CausalLM;
  readonly optimizer: AdamW;
  readonly state: TrainerCheckpointState;
  /** Keep at most this many checkpoints (oldest deleted first); default: all. */
  readonly saveTotalLimit?: number | undefined;
}

/** Names of the optimizer moments in `optimizer.safetensors`. */
export function optimizerTensorName(parameter: string, moment: 'exp_avg' | 'exp_avg_sq'): string {
  return `state.${parameter}.${moment}`;
}

/**
 * Writes `checkpoint-<step>/` atomically: the model (HF layout, or the PEFT adapter when LoRA
 * adapters are attached), `optimizer.safetensors` (float32 moments, the step in the metadata) and
 * `trainer_state.json` go to a temp directory, every file is fsynced, then the directory is
 * renamed into place (and the output directory fsynced) — a reader sees no checkpoint or a
 * complete one. Then the oldest checkpoints beyond `saveTotalLimit` are removed (renamed away
 * first, so a crash never leaves a half-deleted one that looks complete). Returns the directory.
 *
 * @example
 * ```ts
 * const dir = await saveCheckpoint({ outputDir: 'out', model, optimizer, state, saveTotalLimit: 2 });
 * ```
 */
export async function saveCheckpoint(options: SaveCheckpointOptions): Promise<string> {
  const { outputDir, model, optimizer, state } = options;
  const finalDir = join(outputDir, `${CHECKPOINT_PREFIX}${state.globalStep}`);
  const temp = join(outputDir, `.tmp-${CHECKPOINT_PREFIX}${state.globalStep}-${process.pid}`);
  await rm(temp, { recursive: true, force: true });
  try {
    if (model.adapters.size > 0) await saveLoraAdapter(model, temp);
    else await saveModel(model, temp);
    const moments = await optimizer.exportState();
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    for (const [name, variable] of optimizer.variables) {
      const shape = [...variable.shape];
      tensors[optimizerTensorName(name, 'exp_avg')] = {
        dtype: 'F32',
        shape,
        data: moments.expAvg.get(name)!,
      };
      tensors[optimizerTensorName(name, 'exp_avg_sq')] = {
        dtype: 'F32',
        shape,
        data: moments.expAvgSq.get(name)!,
      };
    }
    await writeSafetensors(join(temp, OPTIMIZER_FILE), tensors, {
      metadata: { format: 'fusechat-adamw', step: String(moments.step) },
    });
    await writeFile(join(temp, TRAINER_STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
    for (const name of await readdir(temp)) await fsync(join(temp, name));
    await fsync(temp);
    // A checkpoint of this step already there (a resume from an older one): replace it.
    await removeDirectory(outputDir, finalDir);
    await rename(temp, finalDir);
    await fsync(outputDir);
  } catch (error) {
    await rm(temp, { recursive: true, force: true }).catch(() => {});
    throw error;
  }
  const limit = options.saveTotalLimit;
  if (limit !== undefined && limit > 0) {
    const existing = await listCheckpoints(outputDir);
    for (const old of existing.slice(0, Math.max(0, existing.length - limit))) {
      await removeDirectory(outputDir, old.dir);
    }
  }
  return finalDir;
}

/** Removes `dir` by renaming it to a hidden trash name first (so it never looks complete half-deleted). */
export async function removeDirectory(outputDir: string, dir: string): Promise<void> {
  const trash = join(outputDir, `.trash-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  try {
    await rename(dir, trash);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  await rm(trash, { recursive: true, force: true });
}

/** Removes temp and trash directories a killed run left in the output directory. */
export async function removeStaleTemporaries(outputDir: string): Promise<void> {
  for (const name of await readdir(outputDir).catch(() => [] as string[])) {
    if (name.startsWith('.tmp-') || name.startsWith('.trash-'))
      await rm(join(outputDir, name), { recursive: true, force: true });
  }
}

async function fsync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
