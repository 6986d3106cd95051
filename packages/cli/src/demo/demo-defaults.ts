/**
 * The demo's default sizes and settings, in a module of their own: `fusechat demo`'s option
 * defaults need them when the command is defined, without loading the pipeline writer (yaml, the
 * teachers, the data) that `writeDemoPipeline` needs only when the demo runs.
 */
export const DEMO_DEFAULTS = {
  fusionExamples: 48,
  evalExamples: 24,
  targetSteps: 30,
  // The reproduction's choice on its validation split (docs/results.md): 2e-3 over-fits the 144
  // fusion conversations, and every trained model ended above the pivot.
  learningRate: 1e-3,
  lambda: 0.9,
  batchSize: 8,
  mergeMethod: 'variation-ratio',
  seed: 7,
} as const;
