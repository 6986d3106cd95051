/** What the Hub said when it refused a request: the status and its `X-Error-*` headers. */
export interface HubFailure {
  readonly status: number;
  readonly url: string;
  /** `X-Error-Code`: `RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`… */
  readonly errorCode: string | undefined;
  readonly errorMessage: string | undefined;
}

/** A `fetch` for `@huggingface/hub` that also remembers the last refusal. */
export interface HubFetch {
  readonly fetch: typeof fetch;
  /** The last non-2xx answer (reset by {@link HubFetch.clearFailure}). */
  lastFailure(): HubFailure | undefined;
  clearFailure(): void;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/**
 * Wraps `fetch` for talking to the Hub:
 * - the token goes as `Authorization: Bearer …` to the endpoint's origin only, and any
 *   `Authorization` is dropped when a redirect leaves the origin it was sent to (the Hub
 *   redirects LFS files to a CDN), so it never reaches a third party whatever the platform's
 *   fetch does with redirects; a header the library sets itself for another origin (the Xet
 *   client's CAS token) is left alone;
 * - `timeoutMs` bounds the wait for response headers and every pause between body chunks
 *   (a stalled connection fails instead of hanging; a long download is fine);
 * - the last refusal's `X-Error-Code` is kept, since `@huggingface/hub`'s errors carry only the status.
 */
export function createHubFetch(options: {
  endpoint: string;
  token: string | undefined;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  fetch?: typeof fetch | undefined;
}): HubFetch {
  const base = options.fetch ?? fetch;
  const endpointOrigin = new URL(options.endpoint).origin;
  let failure: HubFailure | undefined;

  const hubFetch = async (input: Parameters<typeof fetch>[0], init: RequestInit = {}): Promise<Response> => {
    let url = new URL(input instanceof Request ? input.url : String(input));
    let method = init.method ?? 'GET';
    let body = init.body;
    const headers = new Headers(init.headers);
    let previousOrigin = url.origin;
    for (let hop = 0; ; hop++) {
      if (options.token !== undefined && url.origin === endpointOrigin) {
        headers.set('authorization', `Bearer ${options.token}`);
      } else if (url.origin !== previousOrigin || (hop === 0 && url.origin === endpointOrigin)) {
        // Leaving the origin it was meant for (a redirect to a CDN): no credentials go along.
        // A caller's own header to another origin stays (the Xet client's CAS token).
        headers.delete('authorization');
      }
      previousOrigin = url.origin;
      const controller = new AbortController();
      const abort = () => controller.abort(options.signal?.reason ?? init.signal?.reason);
      options.signal?.addEventListener('abort', abort, { once: true });
      init.signal?.addEventListener('abort', abort, { once: true });
      if (options.signal?.aborted || init.signal?.aborted) abort();
      let timer = setTimeout(
        () => controller.abort(new Error(`no answer from ${url.origin} within ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
      timer.unref?.();
      const detach = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', abort);
        init.signal?.removeEventListener('abort', abort);
      };
      let response: Response;
      try {
        response = await base(url, {
          ...init,
          method,
          body,
          headers,
          redirect: 'manual',
          signal: controller.signal,
        });
      } catch (error) {
        detach();
        throw error;
      }
      const location = response.headers.get('location');
      if (REDIRECT_STATUSES.has(response.status) && location !== null) {
        detach();
        await response.body?.cancel().catch(() => {});
        if (hop >= MAX_REDIRECTS)
          throw new Error(`more than ${MAX_REDIRECTS} redirects from ${options.endpoint}`);
        url = new URL(location, url);
        if (response.status === 303) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      if (!response.ok) {
        failure = {
          status: response.status,
          url: url.href,
          errorCode: response.headers.get('x-error-code') ?? undefined,
          errorMessage: response.headers.get('x-error-message') ?? undefined,
        };
      }
      if (response.body === null) {
        detach();
        return response;
      }
      clearTimeout(timer);
      const restart = () => {
        clearTimeout(timer);
        timer = setTimeout(
          () =>
            controller.abort(new Error(`download from ${url.origin} stalled for ${options.timeoutMs} ms`)),
          options.timeoutMs,
        );
        timer.unref?.();
      };
      restart();
      const watched = response.body.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, sink) {
            restart();
            sink.enqueue(chunk);
          },
          flush() {
            detach();
          },
        }),
      );
      // A Response built by hand has an empty `url`, so @huggingface/hub falls back to the Hub
      // URL it asked for (never a CDN address it would then send credentials to).
      return new Response(watched, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      });
    }
  };
  return {
    fetch: hubFetch as typeof fetch,
    lastFailure: () => failure,
    clearFailure: () => {
      failure = undefined;
    },
  };
}
