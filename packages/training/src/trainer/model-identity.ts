import { createHash } from 'node:crypto';
import type { CausalLM } from '@fusechat/model';

/**
 * SHA-256 of a model's `config.json` form and every base weight (name, shape, float32 bytes, in
 * name order): the identity a checkpoint records of the model training started from, so a resume
 * on another model (or another pivot's LoRA base) is refused. Reads every weight once.
 *
 * @example
 * ```ts
 * const identity = await modelIdentity(model); // 'sha256:…'
 * ```
 */
export async function modelIdentity(model: CausalLM): Promise<string> {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(model.architecture.toHfConfig(model.config)));
  for (const name of [...model.weights.keys()].sort()) {
    const weight = model.weights.get(name)!;
    hash.update(`\n${name}:${weight.shape.join('x')}:`);
    const data = (await weight.data()) as Float32Array;
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return `sha256:${hash.digest('hex')}`;
}
