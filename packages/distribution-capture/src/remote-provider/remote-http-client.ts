import { type Logger, silentLogger } from '@fusechat/core';
import { RemoteProviderError } from './remote-provider-error.js';

/** Options of {@link createRemoteHttpClient}. */
export interface RemoteHttpClientOptions {
  /** Base URL of the server (`http://host:8000`); routes are appended to it. */
  readonly endpoint: string;
  /** Sent as `Authorization: Bearer …`; never logged, and masked in server messages. */
  readonly apiKey?: string | undefined;
  /** Requests in flight at most (default 8). */
  readonly concurrency?: number | undefined;
  /** Retries of one request after a 429, a 5xx, a timeout, a dropped connection or an unreadable body (default 5). */
  readonly maxRetries?: number | undefined;
  /** Per attempt, body included (default 120 000 ms). */
  readonly timeoutMs?: number | undefined;
  /** First backoff delay; doubles per retry, with jitter (default 500 ms). */
  readonly retryBaseDelayMs?: number | undefined;
  /** Longest wait between attempts, `Retry-After` included (default 60 000 ms). */
  readonly maxRetryDelayMs?: number | undefined;
  readonly logger?: Logger | undefined;
  readonly fetch?: typeof fetch | undefined;
}

/** Live counters of a client (and of the remote provider built on it). */
export interface RemoteHttpStats {
  /** HTTP attempts sent (retries included). */
  requests: number;
  /** Attempts that were retried. */
  retries: number;
  /** Request body bytes sent (UTF-8 JSON). */
  bytesSent: number;
  /** Response body bytes received. */
  bytesReceived: number;
}

/** A JSON response with a 2xx status. */
export interface RemoteJsonResponse {
  readonly status: number;
  readonly json: unknown;
  /** The body's size in bytes. */
  readonly bytes: number;
}

/** The HTTP layer of the remote providers: bounded concurrency, timeouts, retries, error bodies. */
export interface RemoteHttpClient {
  readonly endpoint: string;
  readonly stats: Readonly<RemoteHttpStats>;
  /**
   * Sends one JSON request (GET without a body, POST with one) and resolves to its parsed 2xx body.
   *
   * @throws RemoteProviderError `REMOTE_UNAUTHORIZED` (401, 403), `REMOTE_ROUTE_NOT_FOUND` (404,
   *   405), `REMOTE_REQUEST_REJECTED` (other 4xx, with the server's message), `REMOTE_REQUEST_FAILED`
   *   (the retries ran out; the last status or network error is named).
   */
  request(
    method: 'GET' | 'POST',
    route: string,
    body?: unknown,
    options?: {
      retries?: number | undefined;
      timeoutMs?: number | undefined;
      signal?: AbortSignal | undefined;
    },
  ): Promise<RemoteJsonResponse>;
}

const RETRYABLE_STATUS = new Set([408, 409, 425, 429, 500, 502, 503, 504]);

/**
 * An HTTP client for an inference server, as `fetch` with what a long capture needs: at most
 * `concurrency` requests in flight; a timeout on every attempt (the body included); retries with
 * exponential backoff and full jitter on 429/5xx, timeouts, dropped connections and unparsable
 * bodies, honouring `Retry-After`, logged once (later retries at debug level); then an error that
 * names the URL, the status and the server's message. The server's error body is read in the
 * current OpenAI shape `{"error":{"message"}}` (vLLM, SGLang), vLLM's older flat
 * `{"object":"error","message"}`, FastAPI's `{"detail"}`, TGI's `{"error":"…"}` or plain text.
 *
 * @example
 * ```ts
 * const client = createRemoteHttpClient({ endpoint: 'http://gpu-1:8000', apiKey: process.env.VLLM_KEY });
 * const { json } = await client.request('POST', '/tokenize', { prompt: 'Hello' });
 * client.stats.bytesReceived;
 * ```
 */
export function createRemoteHttpClient(options: RemoteHttpClientOptions): RemoteHttpClient {
  const endpoint = options.endpoint.replace(/\/+$/, '');
  const concurrency = options.concurrency ?? 8;
  const maxRetries = options.maxRetries ?? 5;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const baseDelay = options.retryBaseDelayMs ?? 500;
  const maxDelay = options.maxRetryDelayMs ?? 60_000;
  const logger = options.logger ?? silentLogger;
  const doFetch = options.fetch ?? globalThis.fetch;
  const apiKey = options.apiKey;
  const stats: RemoteHttpStats = { requests: 0, retries: 0, bytesSent: 0, bytesReceived: 0 };
  const slots = createSemaphore(concurrency);
  let retryLogged = false;

  const mask = (text: string) => (apiKey ? text.split(apiKey).join('***') : text);

  async function attempt(
    method: 'GET' | 'POST',
    url: string,
    payload: string | undefined,
    attemptTimeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<AttemptResult> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    stats.requests++;
    if (payload !== undefined) stats.bytesSent += Buffer.byteLength(payload);
    let response: Response;
    let bytes: Uint8Array;
    try {
      response = await doFetch(url, {
        method,
        headers,
        body: payload,
        signal:
          signal === undefined
            ? AbortSignal.timeout(attemptTimeoutMs)
            : AbortSignal.any([signal, AbortSignal.timeout(attemptTimeoutMs)]),
      });
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (cause) {
      if (signal?.aborted) throw signal.reason;
      const timedOut = (cause as Error)?.name === 'TimeoutError';
      return {
        kind: 'retry',
        reason: timedOut
          ? `no answer within ${attemptTimeoutMs} ms`
          : `connection failed (${networkReason(cause)})`,
        cause,
      };
    }
    stats.bytesReceived += bytes.byteLength;
    const text = new TextDecoder().decode(bytes);
    const status = response.status;
    if (status >= 200 && status < 300) {
      try {
        return { kind: 'ok', response: { status, json: JSON.parse(text), bytes: bytes.byteLength } };
      } catch (cause) {
        return {
          kind: 'retry',
          reason: `the ${status} body is not JSON (${bytes.byteLength} bytes: ${JSON.stringify(text.slice(0, 80))})`,
          status,
          cause,
        };
      }
    }
    const serverMessage = mask(errorMessageOf(text));
    if (RETRYABLE_STATUS.has(status)) {
      return {
        kind: 'retry',
        reason: `HTTP ${status}${serverMessage ? `: ${serverMessage}` : ''}`,
        status,
        serverMessage,
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
      };
    }
    const code =
      status === 401 || status === 403
        ? 'REMOTE_UNAUTHORIZED'
        : status === 404 || status === 405
          ? 'REMOTE_ROUTE_NOT_FOUND'
          : 'REMOTE_REQUEST_REJECTED';
    const hint =
      code === 'REMOTE_UNAUTHORIZED'
        ? apiKey
          ? ': the server refused the API key'
          : ': the server wants an API key (pass --api-key-env NAME)'
        : code === 'REMOTE_ROUTE_NOT_FOUND'
          ? ': the server has no such route (is it the engine --dialect says?)'
          : '';
    throw new RemoteProviderError(
      code,
      `${method} ${url} answered ${status}${hint}${serverMessage ? `: ${serverMessage}` : ''}`,
      { url, status, serverMessage },
    );
  }

  return {
    endpoint,
    stats,
    async request(method, route, body, requestOptions) {
      const url = `${endpoint}${route}`;
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const retries = requestOptions?.retries ?? maxRetries;
      const attemptTimeoutMs = requestOptions?.timeoutMs ?? timeoutMs;
      const signal = requestOptions?.signal;
      const release = await slots.acquire();
      try {
        for (let retry = 0; ; retry++) {
          if (signal?.aborted) throw signal.reason;
          const result = await attempt(method, url, payload, attemptTimeoutMs, signal);
          if (result.kind === 'ok') return result.response;
          if (retry >= retries) {
            throw new RemoteProviderError(
              'REMOTE_REQUEST_FAILED',
              `${method} ${url} failed after ${retry + 1} attempt${retry === 0 ? '' : 's'}: ${result.reason}`,
              { url, status: result.status, serverMessage: result.serverMessage, cause: result.cause },
            );
          }
          const backoff = Math.min(maxDelay, baseDelay * 2 ** retry) * Math.random();
          const delay = Math.min(maxDelay, Math.max(backoff, result.retryAfterMs ?? 0));
          const line = `${method} ${url}: ${result.reason}; retry ${retry + 1}/${retries} in ${Math.round(delay)} ms`;
          if (retryLogged) logger.debug(line);
          else {
            retryLogged = true;
            logger.warn(`${line} (further retries are logged at debug level)`);
          }
          stats.retries++;
          await sleep(delay, signal);
        }
      } finally {
        release();
      }
    },
  };
}

type AttemptResult =
  | { kind: 'ok'; response: RemoteJsonResponse }
  | {
      kind: 'retry';
      reason: string;
      status?: number;
      serverMessage?: string;
      retryAfterMs?: number | undefined;
      cause?: unknown;
    };

/** The message of an error body in any of the shapes servers use, or its text. */
export function errorMessageOf(text: string): string {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const error = body?.error;
    if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string')
      return (error as { message: string }).message;
    if (typeof error === 'string') return error;
    if (typeof body?.message === 'string') return body.message;
    if (typeof body?.detail === 'string') return body.detail;
    if (body?.detail !== undefined) return JSON.stringify(body.detail);
  } catch {
    // not JSON: the text itself
  }
  return text.trim().slice(0, 500);
}

/** `Retry-After` as delay-seconds or an HTTP date, in milliseconds. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function networkReason(cause: unknown): string {
  const error = cause as { message?: string; cause?: { code?: string; message?: string } };
  return error?.cause?.code ?? error?.cause?.message ?? error?.message ?? String(cause);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function createSemaphore(size: number): { acquire(): Promise<() => void> } {
  let free = size;
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else free++;
  };
  return {
    acquire() {
      if (free > 0) {
        free--;
        return Promise.resolve(release);
      }
      return new Promise((resolve) => waiting.push(() => resolve(release)));
    },
  };
}
