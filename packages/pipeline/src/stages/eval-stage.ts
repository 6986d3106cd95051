import { loadChatTemplate, renderChat, templateEndOfTurn } from '@fusechat/chat-data';
import type { Logger, TokenizerLike } from '@fusechat/core';
import { type CausalLM, loadModel, readGenerationConfigEos, readModelConfig } from '@fusechat/model';
import { loadTokenizer } from '@fusechat/tokenizer-alignment';
import { createChatDataset, evaluateDataset } from '@fusechat/training';
import type { SampleDecoding } from '../config/resolved-pipeline-config.js';
import type { EvaluationRow, ModelRole, SampleRecord } from '../results/pipeline-results.js';
import { writeJsonAtomic } from '../run-directory/write-json-atomic.js';
import { runStage, type StageOutcome } from './run-stage.js';
import { type PipelineContext, stageProgress } from './stage-context.js';

/** A model the eval stage scores: its directory (with tokenizer files) and chat template. */
export interface EvaluatedModel {
  readonly name: string;
  readonly role: ModelRole;
  readonly modelDir: string;
  /** A `.jinja` / tokenizer_config.json file, else the model's own template. */
  readonly chatTemplate: string | undefined;
  /** `sha256:` identity (a model directory's hash or the stage that made it). */
  readonly hash: string;
}

/** `eval/evaluation.json`, also the eval stage's summary. */
export interface EvalStageSummary extends Record<string, unknown> {
  readonly rows: readonly EvaluationRow[];
  readonly samples: readonly SampleRecord[];
}

/** Longest evaluated sequence when neither the config nor a small model limit says otherwise. */
const DEFAULT_MAX_LENGTH = 2048;
/** Who completes the report's sample prompts. */
const SAMPLED_ROLES: readonly ModelRole[] = ['pivot', 'source', 'target', 'control', 'merged'];

/**
 * `eval`: per model and split (`data.validation`, `data.test`), the mean response CE and
 * perplexity on assistant tokens — each model with its own tokenizer and chat template, the data
 * rendered and masked as training renders it (`createChatDataset`, then `evaluateDataset` with
 * λ = 1) — and the report's sample prompts completed greedily by every model. Writes
 * `eval/evaluation.json`.
 */
export async function evalStage(
  context: PipelineContext,
  models: readonly EvaluatedModel[],
): Promise<StageOutcome<EvalStageSummary>> {
  const { config, layout, hasher } = context;
  const paths = layout.eval;
  const splits = [
    ...config.data.validation.map((entry) => ({ ...entry, set: 'validation' as const })),
    ...config.data.test.map((entry) => ({ ...entry, set: 'test' as const })),
  ];
  const inputs: Record<string, string> = {};
  for (const model of models) inputs[`model/${model.name}`] = model.hash;
  for (const split of splits) inputs[`${split.set}/${split.name}`] = await hasher.hashFile(split.path);
  return runStage(context, {
    id: paths.id,
    kind: 'eval',
    dir: paths.dir,
    inputs,
    config: {
      eval: config.eval,
      samples: config.report.samples,
      seed: config.seed,
      roles: models.map((model) => [model.name, model.role]),
    },
    run: async (log) => {
      const onProgress = stageProgress(context, paths.id);
      const rows: EvaluationRow[] = [];
      const completions = new Map<string, { model: string; text: string }[]>();
      let done = 0;
      for (const entry of models) {
        const { config: modelConfig } = await readModelConfig(entry.modelDir);
        const tokenizer = await loadTokenizer(entry.modelDir);
        const chatTemplate =
          entry.chatTemplate === undefined ? undefined : await loadChatTemplate(entry.chatTemplate);
        const maxLength =
          config.eval.maxLength ?? Math.min(modelConfig.maxPositionEmbeddings, DEFAULT_MAX_LENGTH);
        const model = await loadModel(entry.modelDir);
        try {
          for (const split of splits) {
            const dataset = await createChatDataset({
              dataFile: split.path,
              tokenizer,
              chatTemplate,
              batchSize: config.eval.batchSize,
              maxLength,
            });
            try {
              const metrics = await evaluateDataset(
                model,
                dataset,
                { lmLossWeight: 1, distillLossType: 'ce' },
                config.seed,
              );
              rows.push({
                model: entry.name,
                split: split.name,
                set: split.set,
                loss: metrics.evalClm,
                perplexity: metrics.evalPerplexity,
                tokens: metrics.evalPositions,
              });
              log.info(
                `${entry.name} on ${split.set}/${split.name}: loss ${metrics.evalClm.toFixed(4)}, perplexity ${metrics.evalPerplexity.toFixed(2)} (${metrics.evalPositions} tokens)`,
              );
            } finally {
              await dataset.close?.();
            }
          }
          if (SAMPLED_ROLES.includes(entry.role)) {
            for (const prompt of config.report.samples.prompts) {
              const text = await complete(model, tokenizer, chatTemplate, entry.modelDir, prompt, {
                maxNewTokens: config.report.samples.maxNewTokens,
                decoding: config.report.samples.decoding,
                maxPositions: modelConfig.maxPositionEmbeddings,
                eos: [modelConfig.eosTokenId ?? []].flat(),
                log,
              });
              const list = completions.get(prompt) ?? [];
              list.push({ model: entry.name, text });
              completions.set(prompt, list);
            }
          }
        } finally {
          model.dispose();
        }
        onProgress({
          task: paths.id,
          completed: ++done,
          total: models.length,
          unit: 'models',
          detail: entry.name,
        });
      }
      const decoding = describeDecoding(config.report.samples.decoding);
      const samples: SampleRecord[] = config.report.samples.prompts.map((prompt) => ({
        prompt,
        decoding,
        completions: completions.get(prompt) ?? [],
      }));
      const summary = { rows, samples };
      await writeJsonAtomic(paths.evaluationFile, summary);
      return summary;
    },
  });
}

/** `report.samples`' decoding in transformers' words: `greedy` or `temperature 0.7, top_p 0.9, seed 7`, then the repetition controls. */
export function describeDecoding(decoding: SampleDecoding): string {
  const parts =
    decoding.temperature === 0
      ? ['greedy']
      : [
          `temperature ${decoding.temperature}`,
          ...(decoding.topK === undefined ? [] : [`top_k ${decoding.topK}`]),
          ...(decoding.topP === 1 ? [] : [`top_p ${decoding.topP}`]),
          `seed ${decoding.seed}`,
        ];
  if (decoding.repetitionPenalty !== 1) parts.push(`repetition_penalty ${decoding.repetitionPenalty}`);
  if (decoding.noRepeatNgramSize > 0) parts.push(`no_repeat_ngram_size ${decoding.noRepeatNgramSize}`);
  if (decoding.minNewTokens > 0) parts.push(`min_new_tokens ${decoding.minNewTokens}`);
  return parts.join(', ');
}

/**
 * The completion of one user prompt, rendered with the model's chat template, decoded as
 * `report.samples` says (greedy by default).
 */
async function complete(
  model: CausalLM,
  tokenizer: TokenizerLike,
  chatTemplate: string | undefined,
  modelDir: string,
  prompt: string,
  options: {
    maxNewTokens: number;
    decoding: SampleDecoding;
    maxPositions: number;
    eos: readonly number[];
    log: Logger;
  },
): Promise<string> {
  const messages = [{ role: 'user' as const, content: prompt }];
  const { text } = renderChat(messages, {
    tokenizer,
    chatTemplate,
    addGenerationPrompt: true,
    where: 'report.samples',
  });
  const promptIds = tokenizer.encode(text, { addSpecialTokens: false });
  const stopTokens = new Set<number>([
    ...options.eos,
    ...(await readGenerationConfigEos(modelDir)),
    ...(tokenizer.specialTokens.eos === undefined ? [] : [tokenizer.specialTokens.eos]),
  ]);
  try {
    const endOfTurn = templateEndOfTurn(messages, { tokenizer, chatTemplate });
    if (endOfTurn !== undefined) stopTokens.add(endOfTurn);
  } catch {
    // No recognisable end-of-turn token: generation stops at eos only.
  }
  const room = options.maxPositions - promptIds.length;
  if (room <= 0) {
    options.log.warn(`sample prompt "${prompt.slice(0, 40)}" does not fit the model's context; skipped`);
    return '';
  }
  const { tokens, finishReason } = await model.generate(promptIds, {
    ...options.decoding,
    maxNewTokens: Math.min(options.maxNewTokens, room),
    minNewTokens: Math.min(options.decoding.minNewTokens, options.maxNewTokens, room),
    stopTokens: [...stopTokens],
  });
  const produced = finishReason === 'stop' ? tokens.slice(0, -1) : tokens;
  // Decoding the continuation with its prompt keeps a leading space that decoding it alone drops.
  const decode = { skipSpecialTokens: true };
  const promptText = tokenizer.decode(promptIds, decode);
  const full = tokenizer.decode([...promptIds, ...produced], decode);
  return full.startsWith(promptText) ? full.slice(promptText.length) : tokenizer.decode(produced, decode);
}
