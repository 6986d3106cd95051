import type { FastifyReply } from 'fastify';
import { serializeJson } from './serialize-json.js';

/** A Server-Sent Events writer in vLLM's framing: `data: <json>\n\n` per event, `data: [DONE]\n\n` last. */
export interface EventStream {
  send(event: unknown): void;
  /** True once the client has gone (work for it can stop). */
  readonly closed: boolean;
  done(): void;
}

/** Takes over `reply` for an SSE response (`text/event-stream`). */
export function openEventStream(reply: FastifyReply): EventStream {
  reply.hijack();
  reply.raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  let closed = false;
  reply.raw.on('close', () => {
    closed = true;
  });
  return {
    send(event) {
      if (!closed) reply.raw.write(`data: ${serializeJson(event)}\n\n`);
    },
    get closed() {
      return closed;
    },
    done() {
      if (!closed) reply.raw.end('data: [DONE]\n\n');
    },
  };
}
