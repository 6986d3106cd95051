import type { AddressInfo } from 'node:net';
import { readGenerationConfigEos } from '@fusechat/model';
import type { FastifyInstance } from 'fastify';
import { type CreateServerOptions, createServer } from './create-server.js';

/** Options of {@link serve}. */
export interface ServeOptions extends CreateServerOptions {
  /** Default 127.0.0.1 (loopback: pass 0.0.0.0 to serve other machines). */
  readonly host?: string | undefined;
  /** Default 8000 (vLLM's); 0 picks a free port. */
  readonly port?: number | undefined;
}

/** A listening server. */
export interface RunningServer {
  readonly app: FastifyInstance;
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections and waits for open requests to finish. */
  close(): Promise<void>;
}

/**
 * {@link createServer} and `listen`: resolves once the port is bound.
 *
 * @example
 * ```ts
 * const server = await serve({ model, tokenizer, modelName: 'tiny', port: 0 });
 * console.log(server.url); // http://127.0.0.1:41235
 * await server.close();
 * ```
 */
export async function serve(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  // generation_config.json's eos ids, as vLLM stops at them (Llama 3 Instruct's <|eot_id|>).
  const dir = options.model.sourceDirectory;
  const fromGenerationConfig = dir === undefined ? [] : await readGenerationConfigEos(dir);
  const app = createServer({
    ...options,
    stopTokenIds: [...(options.stopTokenIds ?? []), ...fromGenerationConfig],
  });
  await app.listen({ host, port: options.port ?? 8000 });
  const { port } = app.server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return { app, url: `http://${shown}:${port}`, port, close: () => app.close() };
}
