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

/** Turns a config's model reference that is not a local directory into one (e.g. a Hugging Face id). */
export type ModelResolver = (reference: string, context: { baseDir: string }) => Promise<string>;

/**
 * Opens every referenced model directory (config.json + safetensors headers), collecting
 * problems instead of stopping at the first. Returns what could be opened.
 */
export async function openInputs(
  references: readonly { reference: string; field: string }[],
  cwd: string,
  problems: string[],
  resolveModel?: ModelResolver,
): Promise<Map<string, OpenedModel>> {
  const opened = new Map<string, OpenedModel>();
  // References that are not local directories go through the resolver (a Hugging Face id from
  // the HF cache, downloaded when missing), one at a time so their progress lines do not mix.
  const dirs = new Map<string, string>();
  for (const { reference, field } of references) {
    if (dirs.has(reference)) continue;
    const local = resolve(cwd, reference);
    const isDirectory = (await stat(local).catch(() => undefined))?.isDirectory() ?? false;
    if (isDirectory || resolveModel === undefined) {
      dirs.set(reference, local);
      continue;
    }
    try {
      dirs.set(reference, await resolveModel(reference, { baseDir: cwd }));
    } catch (error) {
      problems.push(`${field}: ${(error as Error).message}`);
    }
  }
  await Promise.all(
    references.map(async ({ reference, field }) => {
      if (opened.has(reference)) return;
      const dir = dirs.get(reference);
      if (dir === undefined) return; // the resolver's problem is already listed
      const info = await stat(dir).catch(() => undefined);
      if (!info?.isDirectory()) {
        const looksLikeHubId = /^[\w.-]+\/[\w.-]+(@[\w./-]+)?$/.test(reference) && !reference.startsWith('.');
        problems.push(
          `${field}: "${reference}" is not a local directory (looked at ${dir}; relative paths are taken from ${cwd}, the working directory or \`cwd\`).${
            looksLikeHubId
              ? ' `fusechat merge` resolves Hugging Face ids (ORG/NAME[@revision]) from the HF cache, downloading them when missing; from a program, pass `resolveModel` (e.g. with `resolveModelReference` of @fusechat/hub).'
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
