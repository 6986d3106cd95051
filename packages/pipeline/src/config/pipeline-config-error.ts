import { InvalidInputError } from '@fusechat/core';

/**
 * A pipeline config that cannot run, with every problem found (code `PIPELINE_CONFIG_INVALID`):
 * unknown keys, wrong types, duplicate names, missing files, tokenizers that do not load,
 * unknown methods. Each problem is one line `path (line N): what is wrong`.
 *
 * @example
 * ```ts
 * try { await loadPipelineConfig('pipeline.yml'); } catch (error) {
 *   if (error instanceof PipelineConfigError) for (const problem of error.problems) console.error(problem);
 * }
 * ```
 */
export class PipelineConfigError extends InvalidInputError {
  readonly problems: readonly string[];
  /** The config file, when the config was read from one. */
  readonly path: string | undefined;
  constructor(problems: readonly string[], options: { path?: string | undefined; cause?: unknown } = {}) {
    const source = options.path ?? 'pipeline config';
    super(
      `Invalid ${source} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  - ${problems.join('\n  - ')}`,
      {
        code: 'PIPELINE_CONFIG_INVALID',
        cause: options.cause,
        details: { problems: [...problems], path: options.path },
      },
    );
    this.problems = Object.freeze([...problems]);
    this.path = options.path;
  }
}
