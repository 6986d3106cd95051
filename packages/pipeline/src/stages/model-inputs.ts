import type { ResolvedLocalModel, ResolvedSource } from '../config/resolved-pipeline-config.js';
import type { FileHasher } from '../run-directory/hash-inputs.js';

/** Files in a model directory that are not the model (outputs fusechat writes beside it). */
const NOT_MODEL = (name: string) => name.startsWith('merge-report.') || name === 'README.md';

/**
 * The identity of a model as stage inputs: `sha256:` of its directory's files (config.json,
 * weights, tokenizer files) — or, for a remote source, of its endpoint, served name and
 * tokenizer files (the server's weights cannot be seen from here) — and of its chat template
 * file when the config gives one.
 */
export async function modelInputs(
  hasher: FileHasher,
  model: ResolvedLocalModel | ResolvedSource,
): Promise<Record<string, string>> {
  const inputs: Record<string, string> = {};
  if (model.kind === 'local') inputs.model = await hasher.hashDirectory(model.model, { exclude: NOT_MODEL });
  else {
    inputs.tokenizer = await hasher.hashDirectory(model.tokenizer);
    inputs.endpoint = `${model.endpoint} ${model.modelName} ${model.dialect}`;
  }
  if (model.chatTemplate !== undefined) inputs.chatTemplate = await hasher.hashFile(model.chatTemplate);
  return inputs;
}

/** The directory holding a model's tokenizer files. */
export function tokenizerDirOf(model: ResolvedLocalModel | ResolvedSource): string {
  return model.kind === 'local' ? model.model : model.tokenizer;
}
