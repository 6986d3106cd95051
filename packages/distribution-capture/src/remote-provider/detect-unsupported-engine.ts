import type { RemoteHttpClient } from './remote-http-client.js';
import { RemoteProviderError } from './remote-provider-error.js';

/** An engine that serves text but cannot give prompt top-k log-probabilities. */
export interface UnsupportedEngine {
  readonly engine: 'text-generation-inference' | 'llama.cpp';
  /** Version or build, when the server reports it. */
  readonly version: string | undefined;
  /** What it lacks, in one sentence. */
  readonly lacks: string;
}

const LACKS = {
  'text-generation-inference':
    "TGI returns only the actual token's log-probability at each prompt position (`decoder_input_details`); its `top_n_tokens` covers generated tokens only, so it has no top-k for the prompt",
  'llama.cpp':
    "llama.cpp's server returns probabilities of generated tokens only (`n_probs`), none for the prompt",
} as const;

/**
 * Asks the server what it is, the way each engine answers: Text Generation Inference's `GET /info`
 * (`router: "text-generation-router"`, `model_id`, `max_input_tokens`; router/src/lib.rs `Info`),
 * llama.cpp's `GET /props` (`default_generation_settings`, `total_slots`; tools/server/server.cpp).
 * Resolves to the engine when it is one that cannot return prompt top-k, else undefined (vLLM and
 * SGLang answer 404 to both). Failures of these requests count as "not that engine".
 *
 * @example
 * ```ts
 * const engine = await detectUnsupportedEngine(client);
 * if (engine) throw unsupportedEngineError(client.endpoint, engine);
 * ```
 */
export async function detectUnsupportedEngine(
  client: RemoteHttpClient,
  timeoutMs = 10_000,
): Promise<UnsupportedEngine | undefined> {
  const get = async (route: string): Promise<Record<string, unknown> | undefined> => {
    try {
      const { json } = await client.request('GET', route, undefined, { retries: 0, timeoutMs });
      return json !== null && typeof json === 'object' && !Array.isArray(json)
        ? (json as Record<string, unknown>)
        : undefined;
    } catch {
      return undefined;
    }
  };
  const info = await get('/info');
  if (
    info !== undefined &&
    (String(info.router ?? '').includes('text-generation') ||
      (typeof info.model_id === 'string' && ('max_input_tokens' in info || 'max_total_tokens' in info)))
  ) {
    const engine = 'text-generation-inference';
    return { engine, version: stringOrUndefined(info.version), lacks: LACKS[engine] };
  }
  const props = await get('/props');
  if (props !== undefined && ('default_generation_settings' in props || 'total_slots' in props)) {
    const engine = 'llama.cpp';
    const build = props.build_info;
    return { engine, version: stringOrUndefined(build), lacks: LACKS[engine] };
  }
  return undefined;
}

/** The diagnosis `REMOTE_ENGINE_UNSUPPORTED` for an engine {@link detectUnsupportedEngine} found. */
export function unsupportedEngineError(endpoint: string, engine: UnsupportedEngine): RemoteProviderError {
  const name =
    engine.engine === 'text-generation-inference' ? 'Text Generation Inference (TGI)' : 'llama.cpp';
  return new RemoteProviderError(
    'REMOTE_ENGINE_UNSUPPORTED',
    `${endpoint} is ${name}${engine.version ? ` ${engine.version}` : ''}, which cannot be captured from: ${engine.lacks}. Capture needs the top-k log-probabilities of every prompt position: serve the model with vLLM or SGLang, or capture locally with --model DIR.`,
    { url: endpoint, details: { engine: engine.engine, version: engine.version } },
  );
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}
