import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { openCheckpoint } from '@fusechat/safetensors';

/** A checkpoint opened for merging (headers read, no weights). */
export type Checkpoint = Awaited<ReturnType<typeof openCheckpoint>>;

/** One model directory of the config, opened: its HF config and safetensors headers. */
export interface OpenedModel {
  /** As written in the config. */
  readonly reference: string;
  /** Absolute directory. */
  readonly dir: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly checkpoint: Checkpoint;
}

/**
 * Opens every referenced model directory (config.json + safetensors headers), collecting
 * problems instead of stopping at the first. Returns what could be opened.
 */
export async function openInputs(
  references: readonly { reference: string; field: string }[],
  cwd: string,
  problems: string[],
): Promise<Map<string, OpenedModel>> {
  const opened = new Map<string, OpenedModel>();
  await Promise.all(
    references.map(async ({ reference, field }) => {
      if (opened.has(reference)) return;
      const dir = resolve(cwd, reference);
      const info = await stat(dir).catch(() => undefined);
      if (!info?.isDirectory()) {
        const looksLikeHubId = /^[\w.-]+\/[\w.-]+$/.test(reference) && !reference.startsWith('.');
        problems.push(
          `${field}: "${reference}" is not a local directory (${dir}).${
            looksLikeHubId
              ? ` fusechat merges local Hugging Face checkpoints; download it first, e.g. \`huggingface-cli download ${reference} --local-dir ./${reference.split('/').at(-1)}\`, and point the config there.`
              : ''
          }`,
        );
        return;
      }
      let config: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          throw new Error('not a JSON object');
        config = parsed as Record<string, unknown>;
      } catch (error) {
        problems.push(
          `${field}: ${join(dir, 'config.json')} is missing or unreadable (${(error as Error).message}).`,
        );
        return;
      }
      try {
        const checkpoint = await openCheckpoint(dir);
        if (opened.has(reference)) {
          await checkpoint.close();
          return;
        }
        opened.set(reference, { reference, dir, config, checkpoint });
      } catch (error) {
        problems.push(`${field}: cannot read the safetensors weights in ${dir}: ${(error as Error).message}`);
      }
    }),
  );
  return opened;
}

/** Closes every opened checkpoint, ignoring close errors. */
export async function closeInputs(opened: ReadonlyMap<string, OpenedModel>): Promise<void> {
  await Promise.all([...opened.values()].map((model) => model.checkpoint.close().catch(() => undefined)));
}
