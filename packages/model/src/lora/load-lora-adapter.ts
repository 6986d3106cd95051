import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError, ShapeMismatchError } from '@fusechat/core';
import { openSafetensors } from '@fusechat/safetensors';
import * as tf from '@tensorflow/tfjs-core';
import type { CausalLM, LoraAdapter } from '../model/causal-lm.js';
import { applyLora } from './apply-lora.js';
import { peftTensorName } from './save-lora-adapter.js';

/**
 * Attaches a PEFT LoRA adapter directory (`adapter_config.json` + `adapter_model.safetensors`)
 * to `model`, as `applyLora` would, with the stored A/B matrices. Every adapter tensor is checked
 * against the model's projection shapes before anything is attached.
 *
 * @example
 * ```ts
 * const model = await loadModel('models/Qwen2.5-0.5B');
 * await loadLoraAdapter(model, 'out/adapter');
 * await saveModel(model, 'out/merged'); // adapters merged into the weights
 * ```
 */
export async function loadLoraAdapter(model: CausalLM, dir: string): Promise<LoraAdapter[]> {
  const configPath = join(dir, 'adapter_config.json');
  const config = JSON.parse(await readFile(configPath, 'utf8')) as {
    peft_type?: string;
    r?: number;
    lora_alpha?: number;
    target_modules?: string[] | string;
  };
  if (config.peft_type !== 'LORA' || typeof config.r !== 'number' || !config.target_modules) {
    throw new FileFormatError(
      'LORA_INVALID_ADAPTER',
      `${configPath} is not a PEFT LoRA config (peft_type "LORA", r, target_modules needed).`,
      {
        path: configPath,
      },
    );
  }
  const targets = Array.isArray(config.target_modules) ? config.target_modules : [config.target_modules];
  const file = await openSafetensors(join(dir, 'adapter_model.safetensors'));
  try {
    const adapters = applyLora(model, {
      rank: config.r,
      alpha: config.lora_alpha ?? config.r,
      targetModules: targets,
    });
    try {
      for (const adapter of adapters) {
        for (const [matrix, variable] of [
          ['A', adapter.a],
          ['B', adapter.b],
        ] as const) {
          const name = peftTensorName(adapter.module, matrix);
          const info = file.tensors.get(name);
          if (info === undefined) {
            throw new FileFormatError(
              'LORA_MISSING_TENSOR',
              `Adapter tensor "${name}" is missing in ${file.path}.`,
              {
                path: file.path,
                tensorName: name,
              },
            );
          }
          if (info.shape.join() !== variable.shape.join()) {
            throw new ShapeMismatchError(
              `Adapter tensor "${name}" has shape [${info.shape}], the model needs [${variable.shape}].`,
              {
                code: 'LORA_SHAPE_MISMATCH',
                tensorName: name,
                expectedShape: variable.shape,
                actualShape: info.shape,
              },
            );
          }
        }
      }
      for (const adapter of adapters) {
        for (const [matrix, variable] of [
          ['A', adapter.a],
          ['B', adapter.b],
        ] as const) {
          const stored = tf.tensor(
            await file.readFloat32(peftTensorName(adapter.module, matrix)),
            variable.shape,
          );
          variable.assign(stored);
          stored.dispose();
        }
      }
      return adapters;
    } catch (error) {
      // Leave the model as it was.
      for (const adapter of adapters) {
        (model.adapters as Map<string, LoraAdapter>).delete(adapter.module);
        adapter.a.dispose();
        adapter.b.dispose();
      }
      for (const variable of model.weights.values()) variable.trainable = true;
      throw error;
    }
  } finally {
    await file.close();
  }
}
