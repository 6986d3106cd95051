import { FuseChatError } from '@fusechat/core';

/** OpenAI / vLLM error types by HTTP status (vLLM's `create_error_response` names them so). */
const ERROR_TYPES: Record<number, string> = {
  400: 'BadRequestError',
  401: 'AuthenticationError',
  404: 'NotFoundError',
  500: 'InternalServerError',
  503: 'ServiceUnavailableError',
};

/**
 * A request the server refuses: carries the HTTP status and the OpenAI error body's `param`.
 * Codes: `SERVE_BAD_REQUEST` (400), `SERVE_REQUEST_TOO_LARGE` (400, over a server limit),
 * `SERVE_UNAUTHORIZED` (401), `SERVE_MODEL_NOT_FOUND` (404).
 *
 * @example
 * ```ts
 * throw new ServerRequestError('SERVE_BAD_REQUEST', '`logprobs` must be a positive value or -1.', { param: 'logprobs' });
 * ```
 */
export class ServerRequestError extends FuseChatError {
  readonly statusCode: number;
  readonly param: string | null;
  constructor(
    code: string,
    message: string,
    options: {
      statusCode?: number;
      param?: string | null;
      cause?: unknown;
      details?: Record<string, unknown>;
    } = {},
  ) {
    const statusCode = options.statusCode ?? 400;
    super(code, message, {
      cause: options.cause,
      details: { ...options.details, statusCode, param: options.param ?? null },
    });
    this.statusCode = statusCode;
    this.param = options.param ?? null;
  }
}

/** OpenAI's error body as vLLM sends it (`ErrorResponse` / `ErrorInfo` in vLLM's protocol). */
export interface ErrorBody {
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly param: string | null;
    readonly code: number;
  };
}

/**
 * The body for an HTTP status: `{"error": {"message", "type", "param", "code"}}`, as
 * `ErrorInfo` in vllm/entrypoints/serve/engine/protocol.py (commit f1bf7bd0) defines it:
 * `code` is the HTTP status, `type` its name. Never includes a stack trace.
 */
export function errorBody(statusCode: number, message: string, param: string | null = null): ErrorBody {
  return { error: { message, type: ERROR_TYPES[statusCode] ?? 'BadRequestError', param, code: statusCode } };
}
