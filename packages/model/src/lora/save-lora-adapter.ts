import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidInputError } from '@fusechat/core';
import { writeSafetensors } from '@fusechat/safetensors';
import type { CausalLM } from '../model/causal-lm.js';

/** PEFT's name for an adapter tensor: `base_model.model.<module>.lora_A.weight`. */
export function peftTensorName(module: string, matrix: 'A' | 'B'): string {
  return `base_model.model.${module}.lora_${matrix}.weight`;
}

/**
 * Writes the model's LoRA adapters (not the base weights) in the PEFT layout:
 * `adapter_config.json` and `adapter_model.safetensors` with `base_model.model.<module>.lora_A.weight`
 * (`[r, in]`) and `…lora_B.weight` (`[out, r]`), loadable by `peft.PeftModel.from_pretrained` and by
 * {@link loadLoraAdapter}.
 *
 * @example
 * ```ts
 * applyLora(model, { rank: 8, alpha: 16, targetModules: ['q_proj', 'v_proj'] });
 * // …train…
 * await saveLoraAdapter(model, 'out/adapter', { baseModel: 'Qwen/Qwen2.5-0.5B' });
 * ```
 */
export async function saveLoraAdapter(
  model: CausalLM,
  dir: string,
  options: { baseModel?: string } = {},
): Promise<void> {
  const adapters = [...model.adapters.values()];
  if (adapters.length === 0) {
    throw new InvalidInputError('The model has no LoRA adapters to save; call applyLora first.', {
      code: 'LORA_NO_ADAPTERS',
    });
  }
  const rank = adapters[0]!.a.shape[0]!;
  const scale = adapters[0]!.scale;
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const adapter of adapters) {
    tensors[peftTensorName(adapter.module, 'A')] = {
      dtype: 'F32',
      shape: [...adapter.a.shape],
      data: (await adapter.a.data()) as Float32Array,
    };
    tensors[peftTensorName(adapter.module, 'B')] = {
      dtype: 'F32',
      shape: [...adapter.b.shape],
      data: (await adapter.b.data()) as Float32Array,
    };
  }
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { metadata: { format: 'pt' } });
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: rank,
    lora_alpha: scale * rank,
    lora_dropout: 0,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    target_modules: [
      ...new Set(adapters.map((adapter) => adapter.module.slice(adapter.module.lastIndexOf('.') + 1))),
    ],
    base_model_name_or_path: options.baseModel ?? model.sourceDirectory ?? null,
  };
  await writeFile(join(dir, 'adapter_config.json'), `${JSON.stringify(config, null, 2)}\n`);
}
