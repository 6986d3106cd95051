import { loadChatTemplate } from '@fusechat/chat-data';
import type { TokenizerLike } from '@fusechat/core';
import type { FusionRegistry } from '@fusechat/distillation-loss';
import { type DistributionStore, openStore } from '@fusechat/distribution-store';
import { createChatDataset } from '../data/create-chat-dataset.js';
import { createFusionDataset } from '../data/create-fusion-dataset.js';
import type { TrainingDataset } from '../training-dataset.js';
import type { TrainConfig, TrainDatasetConfig } from './parse-train-config.js';

/** The datasets of a {@link TrainConfig}, opened; `close()` releases their stores and files. */
export interface ConfigDatasets {
  readonly dataset: TrainingDataset;
  readonly evalDataset: TrainingDataset | undefined;
  close(): Promise<void>;
}

/**
 * Opens the stores or data files a validated config names and builds its training and eval
 * datasets (`createFusionDataset` for `pivot_store`, `createChatDataset` for `train_file`), so
 * everything the datasets refuse (incomplete stores, another pivot, another tokenizer) is refused
 * before the model loads. On failure, whatever was opened is closed again.
 *
 * @example
 * ```ts
 * const config = await loadTrainConfig('train.yml');
 * const { dataset, evalDataset, close } = await createConfigDatasets(config, { tokenizer });
 * try { await train({ model, dataset, evalDataset, training: config.training, outputDir: config.outputDir }); }
 * finally { await close(); }
 * ```
 */
export async function createConfigDatasets(
  config: Pick<TrainConfig, 'dataset' | 'evalDataset'>,
  options: { readonly tokenizer: TokenizerLike; readonly registry?: FusionRegistry | undefined },
): Promise<ConfigDatasets> {
  const opened: TrainingDataset[] = [];
  const close = async () => {
    for (const item of opened.splice(0).reverse()) await item.close?.();
  };
  const build = async (spec: TrainDatasetConfig): Promise<TrainingDataset> => {
    if (spec.kind === 'fusion') {
      const stores: DistributionStore[] = [];
      try {
        for (const dir of [spec.pivotStore, ...spec.alignedStores]) stores.push(await openStore(dir));
      } catch (error) {
        for (const store of stores) await store.close();
        throw error;
      }
      let dataset: TrainingDataset;
      try {
        dataset = await createFusionDataset({
          pivot: stores[0]!,
          sources: stores.slice(1),
          tokenizer: options.tokenizer,
          fusion: spec.fusion,
          registry: options.registry,
          temperature: spec.temperature,
          batchSize: spec.batchSize,
          batchTokens: spec.batchTokens,
          maxLength: spec.maxLength,
        });
      } catch (error) {
        for (const store of stores) await store.close();
        throw error;
      }
      opened.push(dataset);
      return dataset;
    }
    const dataset = await createChatDataset({
      dataFile: spec.dataFile,
      tokenizer: options.tokenizer,
      chatTemplate: spec.chatTemplate === undefined ? undefined : await loadChatTemplate(spec.chatTemplate),
      batchSize: spec.batchSize,
      batchTokens: spec.batchTokens,
      maxLength: spec.maxLength,
    });
    opened.push(dataset);
    return dataset;
  };
  try {
    const dataset = await build(config.dataset);
    const evalDataset = config.evalDataset === undefined ? undefined : await build(config.evalDataset);
    return { dataset, evalDataset, close };
  } catch (error) {
    await close();
    throw error;
  }
}
