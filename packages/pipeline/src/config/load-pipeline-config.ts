import { open, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Logger } from '@fusechat/core';
import { readInputText } from '@fusechat/core/node';
import { readModelConfig } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import {
  analysePipelineConfig,
  formatProblems,
  isHubReference,
  type ParsePipelineConfigOptions,
} from './parse-pipeline-config.js';
import { PipelineConfigError } from './pipeline-config-error.js';
import type { ResolvedPipelineConfig, ResolvedSource } from './resolved-pipeline-config.js';

/** Options of {@link loadPipelineConfig}. */
export interface LoadPipelineConfigOptions extends Omit<ParsePipelineConfigOptions, 'baseDir' | 'source'> {
  /**
   * Turns a Hugging Face id (`ORG/NAME[@revision]`, when no such path exists) into a local
   * directory; default `resolveModelReference` of `@fusechat/hub` (cache first, then download).
   */
  readonly resolveModel?:
    | ((reference: string, need: 'tokenizer' | 'model-and-tokenizer') => Promise<string>)
    | undefined;
  /** The environment `api_key_env` names are looked up in (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv | undefined;
  readonly logger?: Logger | undefined;
}

/**
 * Reads, validates and resolves a pipeline YAML file. Relative paths are resolved against the
 * file's directory; Hugging Face ids are resolved to local snapshots. On top of the checks of
 * `parsePipelineConfig` it checks what the config points at — data files and chat templates
 * exist, every model directory has a `config.json` of a known architecture, every tokenizer
 * (the pivot's, each source's, a remote source's `tokenizer`) loads, `api_key_env` is set —
 * and lists every problem at once in one {@link PipelineConfigError} (`PIPELINE_CONFIG_INVALID`).
 *
 * @example
 * ```ts
 * const config = await loadPipelineConfig('pipeline.yml');
 * config.runDir;            // '/abs/path/my-fusion.run'
 * config.sources.map((s) => s.name);
 * ```
 */
export async function loadPipelineConfig(
  path: string,
  options: LoadPipelineConfigOptions = {},
): Promise<ResolvedPipelineConfig> {
  const text = await readInputText(path, {
    what: 'pipeline config',
    notFoundCode: 'PIPELINE_CONFIG_UNREADABLE',
  });
  const baseDir = dirname(resolve(path));
  const analysis = analysePipelineConfig(text, { ...options, baseDir, source: path });
  const problems: { path: readonly PropertyKey[]; message: string }[] = [];
  const add = (at: readonly PropertyKey[], message: string) => problems.push({ path: at, message });
  const written = (analysis.raw ?? {}) as Record<string, unknown>;
  const at = (value: string) => (isAbsolute(value) ? value : resolve(baseDir, value));
  const env = options.env ?? process.env;

  const resolveModel =
    options.resolveModel ??
    (async (reference: string, need: 'tokenizer' | 'model-and-tokenizer') => {
      const { resolveModelReference } = await import('@fusechat/hub');
      return (await resolveModelReference(reference, { need, logger: options.logger })).dir;
    });
  const resolvedDirs = new Map<string, string>();
  /** The directory a model reference names, or undefined after recording why not. */
  const directoryOf = async (
    where: readonly PropertyKey[],
    reference: unknown,
    need: 'tokenizer' | 'model-and-tokenizer',
  ): Promise<string | undefined> => {
    if (typeof reference !== 'string' || reference === '') return undefined;
    const local = at(reference);
    const entry = await stat(local).catch(() => undefined);
    if (entry?.isDirectory()) return local;
    if (entry !== undefined) {
      add(where, `${local} is a file, not a model directory`);
      return undefined;
    }
    if (!isHubReference(reference)) {
      add(where, `${local} does not exist`);
      return undefined;
    }
    try {
      const dir = await resolveModel(reference, need);
      resolvedDirs.set(reference, dir);
      return dir;
    } catch (error) {
      add(where, `no directory ${local}, and as a Hugging Face id: ${(error as Error).message}`);
      return undefined;
    }
  };
  const data = (written.data ?? {}) as Record<string, unknown>;
  const chatData = typeof data.train === 'string' && (await isChatData(at(data.train)));
  const checkModel = async (
    where: readonly PropertyKey[],
    reference: unknown,
    tokenizerOnly: boolean,
    chatTemplate: unknown,
  ) => {
    const dir = await directoryOf(where, reference, tokenizerOnly ? 'tokenizer' : 'model-and-tokenizer');
    if (dir === undefined) return;
    if (!tokenizerOnly) {
      try {
        await readModelConfig(dir);
      } catch (error) {
        add(where, `not a loadable model: ${(error as Error).message}`);
      }
    }
    try {
      const tokenizer = await loadTokenizer(dir);
      if (chatData && chatTemplate === undefined && !tokenizer.chatTemplate) {
        add(
          where,
          `${dir} has no chat template (tokenizer_config.json has no "chat_template") and data.train is chat data; give this model a chat_template (a .jinja file or a tokenizer_config.json)`,
        );
      }
    } catch (error) {
      add(where, `its tokenizer cannot be loaded from ${dir}: ${(error as Error).message}`);
    }
  };
  const checkFile = async (where: readonly PropertyKey[], value: unknown) => {
    if (typeof value !== 'string' || value === '') return;
    const entry = await stat(at(value)).catch(() => undefined);
    if (entry === undefined) add(where, `${at(value)} does not exist`);
    else if (!entry.isFile()) add(where, `${at(value)} is not a file`);
  };

  const pivot = (written.pivot ?? {}) as Record<string, unknown>;
  await checkModel(['pivot', 'model'], pivot.model, false, pivot.chat_template);
  await checkFile(['pivot', 'chat_template'], pivot.chat_template);
  const sources = Array.isArray(written.sources) ? (written.sources as Record<string, unknown>[]) : [];
  for (const [index, source] of sources.entries()) {
    if (source === null || typeof source !== 'object') continue;
    if (source.endpoint === undefined)
      await checkModel(['sources', index, 'model'], source.model, false, source.chat_template);
    else {
      await checkModel(['sources', index, 'tokenizer'], source.tokenizer, true, source.chat_template);
      if (typeof source.api_key_env === 'string' && !env[source.api_key_env]) {
        add(['sources', index, 'api_key_env'], `the environment variable ${source.api_key_env} is not set`);
      }
    }
    await checkFile(['sources', index, 'chat_template'], source.chat_template);
  }
  await checkFile(['data', 'train'], data.train);
  for (const split of ['validation', 'test'] as const) {
    const entries = Array.isArray(data[split]) ? (data[split] as Record<string, unknown>[]) : [];
    const names = new Map<string, number>();
    for (const [index, entry] of entries.entries()) {
      if (entry === null || typeof entry !== 'object') continue;
      await checkFile(['data', split, index, 'path'], entry.path);
      if (typeof entry.name === 'string') {
        const earlier = names.get(entry.name);
        if (earlier !== undefined)
          add(
            ['data', split, index, 'name'],
            `"${entry.name}" is also the name of data.${split}[${earlier}]`,
          );
        else names.set(entry.name, index);
      }
    }
  }

  const all = formatProblems([...analysis.issues, ...problems], analysis.lineOf);
  if (all.length > 0 || analysis.config === undefined) throw new PipelineConfigError(all, { path });
  const config = analysis.config;
  const dirOf = (reference: string, fallback: string) => resolvedDirs.get(reference) ?? fallback;
  return {
    ...config,
    pivot: { ...config.pivot, model: dirOf(config.pivot.reference, config.pivot.model) },
    sources: config.sources.map(
      (source): ResolvedSource =>
        source.kind === 'local'
          ? { ...source, model: dirOf(source.reference, source.model) }
          : {
              ...source,
              tokenizer: dirOf(
                String(sources[config.sources.indexOf(source)]?.tokenizer ?? ''),
                source.tokenizer,
              ),
            },
    ),
  };
}

/** The first example of a JSONL file is a conversation (`messages` / ShareGPT `conversations`). */
async function isChatData(path: string): Promise<boolean> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (handle === undefined) return false;
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const line = buffer
      .subarray(0, bytesRead)
      .toString('utf8')
      .split('\n')
      .find((entry) => entry.trim() !== '');
    if (line === undefined) return false;
    const value = JSON.parse(line) as Record<string, unknown>;
    return Array.isArray(value.messages) || Array.isArray(value.conversations);
  } catch {
    return false;
  } finally {
    await handle.close();
  }
}
