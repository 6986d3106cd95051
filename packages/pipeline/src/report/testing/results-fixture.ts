// Test-only: a realistic PipelineResults of a two-source demo-sized run. Not exported.
import { createRandom } from '@fusechat/core';
import type {
  AlignmentRecord,
  EvaluationRow,
  PipelineResults,
  StageKind,
  StageRecord,
} from '../../results/pipeline-results.js';

const SPLITS = ['moby', 'sotu', 'spam'] as const;
/** Held-out loss per model and split: fusion (merged) beats the control on two of three splits. */
export const FIXTURE_LOSSES: Record<string, Record<(typeof SPLITS)[number], number>> = {
  pivot: { moby: 5.1, sotu: 5.3, spam: 5.6 },
  control: { moby: 4.62, sotu: 4.81, spam: 5.02 },
  'target-moby': { moby: 4.41, sotu: 4.86, spam: 5.05 },
  'target-sotu': { moby: 4.66, sotu: 4.52, spam: 5.04 },
  fused: { moby: 4.48, sotu: 4.6, spam: 5.07 },
  moby: { moby: 3.2, sotu: 6.1, spam: 6.4 },
  sotu: { moby: 6.3, sotu: 3.4, spam: 6.2 },
};

function curve(seed: number, steps: number, fusion: boolean) {
  const random = createRandom(seed);
  return Array.from({ length: steps }, (_, index) => {
    const step = index + 1;
    const clm = 5.5 * Math.exp(-step / 18) + 4.3 + (random.float() - 0.5) * 0.08;
    const fusionLoss = fusion ? 6.2 * Math.exp(-step / 15) + 3.9 + (random.float() - 0.5) * 0.1 : undefined;
    const loss = fusionLoss === undefined ? clm : 0.9 * clm + 0.1 * fusionLoss;
    return {
      step,
      loss,
      clm,
      ...(fusionLoss === undefined ? {} : { fusion: fusionLoss }),
      learningRate: 1e-3,
    };
  });
}

function tensorNames(layers: number): string[] {
  const names = ['model.embed_tokens.weight'];
  for (let layer = 0; layer < layers; layer++) {
    for (const suffix of [
      'input_layernorm.weight',
      'self_attn.q_proj.weight',
      'self_attn.k_proj.weight',
      'self_attn.v_proj.weight',
      'self_attn.o_proj.weight',
      'post_attention_layernorm.weight',
      'mlp.gate_proj.weight',
      'mlp.up_proj.weight',
      'mlp.down_proj.weight',
    ])
      names.push(`model.layers.${layer}.${suffix}`);
  }
  names.push('model.norm.weight', 'lm_head.weight');
  return names;
}

const stage = (
  kind: StageKind,
  id: string,
  seconds: number,
  disk: number,
  rss: number,
  reused = false,
): StageRecord => ({
  kind,
  id,
  status: 'complete',
  reused,
  seconds,
  peakRssBytes: rss,
  diskBytes: disk,
});

/** A complete two-source run; `alignment` defaults to none (the tests add a real one). */
export function realisticResults(alignment: readonly AlignmentRecord[] = []): PipelineResults {
  const evaluation: EvaluationRow[] = Object.entries(FIXTURE_LOSSES).flatMap(([model, losses]) =>
    SPLITS.map((split) => ({
      model,
      split,
      loss: losses[split],
      perplexity: Math.exp(losses[split]),
      tokens: 4096,
    })),
  );
  const random = createRandom(3);
  const MiB = 1024 * 1024;
  return {
    formatVersion: 1,
    name: 'demo <fusion> & "friends"',
    configHash: `${'c0ffee'.repeat(10)}abcd`,
    startedAt: '2026-12-03T20:00:00.000Z',
    finishedAt: '2026-12-03T20:07:31.000Z',
    machine: {
      cpus: 2,
      cpuModel: 'AMD EPYC 7B13',
      totalMemoryBytes: 8 * 1024 * MiB,
      freeDiskBytes: 40 * 1024 * MiB,
      backend: 'wasm [SIMD, 2 threads]',
      node: 'v20.19.0',
      platform: 'linux x64',
    },
    stages: [
      stage('capture', 'capture/pivot', 21.4, 12 * MiB, 410 * MiB),
      stage('capture', 'capture/moby', 30.2, 13 * MiB, 520 * MiB),
      stage('capture', 'capture/sotu', 29.1, 13 * MiB, 515 * MiB, true),
      stage('align', 'align/moby', 8.3, 11 * MiB, 300 * MiB),
      stage('align', 'align/sotu', 8.9, 11 * MiB, 302 * MiB),
      stage('train', 'train/moby', 95.2, 48 * MiB, 900 * MiB),
      stage('train', 'train/sotu', 97.8, 48 * MiB, 905 * MiB),
      stage('train', 'train/control', 80.1, 48 * MiB, 850 * MiB),
      stage('merge', 'merge', 3.2, 24 * MiB, 200 * MiB),
      stage('eval', 'eval', 41.0, 0.1 * MiB, 700 * MiB),
    ],
    plan: {
      createdAt: '2026-12-03T19:59:58.000Z',
      stages: [
        {
          id: 'capture/pivot',
          kind: 'capture',
          seconds: 19,
          peakMemoryBytes: 400 * MiB,
          diskBytes: 12.5 * MiB,
          basis: 'measured 2,410 tokens/s forward × 51,200 tokens',
        },
        {
          id: 'capture/moby',
          kind: 'capture',
          seconds: 20,
          peakMemoryBytes: 500 * MiB,
          diskBytes: 12.5 * MiB,
          basis: 'measured 2,300 tokens/s forward × 51,200 tokens',
        },
        {
          id: 'capture/sotu',
          kind: 'capture',
          seconds: 20,
          peakMemoryBytes: 500 * MiB,
          diskBytes: 12.5 * MiB,
          basis: 'measured 2,300 tokens/s forward × 51,200 tokens',
        },
        {
          id: 'align/moby',
          kind: 'align',
          seconds: 9,
          peakMemoryBytes: 280 * MiB,
          diskBytes: 11 * MiB,
          basis: 'DTW 1.2 µs per cell',
        },
        {
          id: 'align/sotu',
          kind: 'align',
          seconds: 9,
          peakMemoryBytes: 280 * MiB,
          diskBytes: 11 * MiB,
          basis: 'DTW 1.2 µs per cell',
        },
        {
          id: 'train/moby',
          kind: 'train',
          seconds: 90,
          peakMemoryBytes: 880 * MiB,
          diskBytes: 47 * MiB,
          basis: '2.3 s per step × 40 steps',
        },
        {
          id: 'train/sotu',
          kind: 'train',
          seconds: 90,
          peakMemoryBytes: 880 * MiB,
          diskBytes: 47 * MiB,
          basis: '2.3 s per step × 40 steps',
        },
        {
          id: 'train/control',
          kind: 'train',
          seconds: 80,
          peakMemoryBytes: 860 * MiB,
          diskBytes: 47 * MiB,
          basis: '2.0 s per step × 40 steps',
        },
        {
          id: 'merge',
          kind: 'merge',
          seconds: 2,
          peakMemoryBytes: 150 * MiB,
          diskBytes: 24 * MiB,
          basis: '120 MB/s',
        },
        {
          id: 'eval',
          kind: 'eval',
          seconds: 40,
          peakMemoryBytes: 650 * MiB,
          diskBytes: 0.1 * MiB,
          basis: '2,400 tokens/s × 7 models',
        },
        {
          id: 'report',
          kind: 'report',
          seconds: 2,
          peakMemoryBytes: 120 * MiB,
          diskBytes: 0.5 * MiB,
          basis: 'fixed',
        },
      ],
    },
    models: [
      {
        name: 'pivot',
        role: 'pivot',
        path: 'models/pivot',
        modelType: 'llama',
        parameters: 6_800_000,
        vocabSize: 32000,
        spaceMarker: '▁',
      },
      {
        name: 'moby',
        role: 'source',
        path: 'models/moby',
        modelType: 'qwen2',
        parameters: 9_100_000,
        vocabSize: 151_646,
        spaceMarker: 'Ġ',
      },
      {
        name: 'sotu',
        role: 'source',
        path: 'models/sotu',
        modelType: 'mistral',
        parameters: 8_300_000,
        vocabSize: 32000,
        spaceMarker: '▁',
      },
      { name: 'target-moby', role: 'target', source: 'moby', vocabSize: 32000, spaceMarker: '▁' },
      { name: 'target-sotu', role: 'target', source: 'sotu', vocabSize: 32000, spaceMarker: '▁' },
      { name: 'control', role: 'control', vocabSize: 32000, spaceMarker: '▁' },
      { name: 'fused', role: 'merged', vocabSize: 32000, spaceMarker: '▁' },
    ],
    evaluation,
    training: [
      { model: 'target-moby', role: 'target', source: 'moby', rows: curve(1, 40, true) },
      { model: 'target-sotu', role: 'target', source: 'sotu', rows: curve(2, 40, true) },
      { model: 'control', role: 'control', rows: curve(3, 40, false) },
    ],
    fusion: [
      { source: 'moby', examples: 400, sourceWins: 0.4125 },
      { source: 'sotu', examples: 400, sourceWins: 0.3675 },
    ],
    alignment,
    merge: {
      method: 'variation-ratio',
      parameters: {},
      models: ['target-moby', 'target-sotu'],
      tensorWeights: tensorNames(4).map((tensor) => {
        const first = 0.3 + random.float() * 0.4;
        return { tensor, weights: [first, 1 - first] };
      }),
    },
    samples: [
      {
        prompt: 'Call me Ishmael. Some years ago',
        completions: [
          { model: 'pivot', text: ', the sea and the of a man' },
          { model: 'target-moby', text: ' — never mind how long precisely — I thought I would sail about' },
          { model: 'fused', text: ' — never mind how long — I would sail about a little' },
        ],
      },
      {
        prompt: 'Mr. Speaker, <script>alert("x")</script> & the state of the Union',
        completions: [
          { model: 'pivot', text: 'is the <b>people</b> & "the" \'nation\'' },
          { model: 'fused', text: ' is strong, and we will keep it so.\nThank you.' },
        ],
      },
    ],
  };
}
