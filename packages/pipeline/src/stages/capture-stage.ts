import { InvalidInputError } from '@fusechat/core';
import { captureLocalModel, captureRemoteModel } from '@fusechat/distribution-capture';
import type { ResolvedLocalModel, ResolvedSource } from '../config/resolved-pipeline-config.js';
import { modelInputs } from './model-inputs.js';
import { runStage, type StageOutcome } from './run-stage.js';
import { type PipelineContext, stageProgress } from './stage-context.js';

/** What the capture stage records in its `stage.json`. */
export interface CaptureStageSummary extends Record<string, unknown> {
  readonly examples: number;
  readonly tokens: number;
  readonly bytes: number;
  readonly flagged: number;
  readonly resumedFrom: number;
  readonly tokensPerSecond: number;
}

/**
 * `capture/<model>`: the model's top-k distributions over `data.train` into
 * `capture/<model>/store` — `captureLocalModel` for a model directory, `captureRemoteModel` for
 * an `endpoint` (API key from `api_key_env`). An interrupted capture resumes from the store.
 */
export async function captureStage(
  context: PipelineContext,
  model: ResolvedLocalModel | ResolvedSource,
): Promise<StageOutcome<CaptureStageSummary>> {
  const { config, layout, hasher } = context;
  const paths = layout.capture[model.name]!;
  const capture = {
    k: config.capture.topK,
    maxLength: config.capture.maxLength,
    truncation: config.capture.truncation,
  };
  return runStage(context, {
    id: paths.id,
    kind: 'capture',
    dir: paths.dir,
    inputs: { ...(await modelInputs(hasher, model)), data: await hasher.hashFile(config.data.train) },
    config: { ...capture, maxLength: capture.maxLength ?? null },
    run: async (log) => {
      const onProgress = stageProgress(context, paths.id);
      const shared = {
        data: config.data.train,
        out: paths.store,
        ...capture,
        chatTemplateFile: model.chatTemplate,
        logger: log,
        signal: context.signal,
      };
      const summary =
        model.kind === 'local'
          ? await captureLocalModel({
              ...shared,
              modelDir: model.model,
              batchTokens: config.capture.batchTokens,
              onProgress,
            })
          : await captureRemoteModel({
              ...shared,
              endpoint: model.endpoint,
              modelName: model.modelName,
              tokenizerDir: model.tokenizer,
              dialect: model.dialect,
              apiKey: apiKeyOf(model.apiKeyEnv),
              concurrency: model.concurrency,
              onProgress,
            });
      const manifest = summary.manifest;
      log.info(
        `${manifest.examples} examples, ${manifest.tokens} tokens${summary.resumedFrom > 0 ? `, resumed after ${summary.resumedFrom}` : ''}`,
      );
      return {
        examples: manifest.examples,
        tokens: manifest.tokens,
        bytes: summary.bytes,
        flagged: manifest.flagged.length,
        resumedFrom: summary.resumedFrom,
        tokensPerSecond: summary.seconds > 0 ? summary.tokens / summary.seconds : 0,
      };
    },
  });
}

function apiKeyOf(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const value = process.env[name];
  if (!value) {
    throw new InvalidInputError(`api_key_env names ${name}, but that environment variable is not set.`, {
      code: 'PIPELINE_API_KEY_MISSING',
      field: 'api_key_env',
    });
  }
  return value;
}
