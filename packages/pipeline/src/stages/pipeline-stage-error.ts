import { FuseChatError } from '@fusechat/core';

/**
 * A stage of a pipeline run failed (code `PIPELINE_STAGE_FAILED`): `stage` names it
 * (`capture/pivot`, `train/moby`, …), `cause` is the error the stage's library call threw, and
 * `causeCode` its code. The stage's `stage.json` says `failed`; the other stages' outputs are
 * untouched, and rerunning resumes the failed stage.
 */
export class PipelineStageError extends FuseChatError {
  readonly stage: string;
  readonly causeCode: string | undefined;
  constructor(stage: string, cause: unknown) {
    const causeCode = cause instanceof FuseChatError ? cause.code : undefined;
    const message = cause instanceof Error ? cause.message : String(cause);
    super(
      'PIPELINE_STAGE_FAILED',
      `stage ${stage} failed${causeCode === undefined ? '' : ` (${causeCode})`}: ${message}\nThe other stages' outputs are intact; fix the cause and rerun to resume from ${stage}.`,
      { cause, details: { stage, causeCode } },
    );
    this.stage = stage;
    this.causeCode = causeCode;
  }
}
