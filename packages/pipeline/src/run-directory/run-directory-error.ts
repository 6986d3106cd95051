import { FuseChatError } from '@fusechat/core';

/**
 * The run directory belongs to another pipeline (`pipeline.json` names another `name`) or is
 * not a run directory at all (it holds files but no `pipeline.json`): code
 * `PIPELINE_RUN_DIR_MISMATCH`. Nothing in it is touched.
 */
export class RunDirectoryMismatchError extends FuseChatError {
  readonly path: string;
  constructor(message: string, options: { path: string; expected: string; found?: string | undefined }) {
    super('PIPELINE_RUN_DIR_MISMATCH', message, { details: { ...options } });
    this.path = options.path;
  }
}
