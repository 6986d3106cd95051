import { FuseChatError } from '@fusechat/core';

/**
 * An inference server did not give capture what it needs: the request failed after its retries,
 * the server refused it, or its answer cannot be a teacher distribution. Carries the endpoint, the
 * HTTP status (when there was a response) and the server's own message. Never the API key.
 *
 * @example
 * ```ts
 * try { await createRemoteProvider(options) } catch (error) {
 *   if (error instanceof RemoteProviderError && error.code === 'REMOTE_MAX_LOGPROBS') console.error(error.message);
 * }
 * ```
 */
export class RemoteProviderError extends FuseChatError {
  /** The URL that was called (endpoint plus route). */
  readonly url: string;
  /** HTTP status of the last response, when there was one. */
  readonly status: number | undefined;
  /** The server's error message, when it sent one. */
  readonly serverMessage: string | undefined;
  constructor(
    code: string,
    message: string,
    options: {
      url: string;
      status?: number | undefined;
      serverMessage?: string | undefined;
      cause?: unknown;
      details?: Record<string, unknown>;
    },
  ) {
    super(code, message, {
      cause: options.cause,
      details: {
        ...options.details,
        url: options.url,
        status: options.status,
        serverMessage: options.serverMessage,
      },
    });
    this.url = options.url;
    this.status = options.status;
    this.serverMessage = options.serverMessage;
  }
}
