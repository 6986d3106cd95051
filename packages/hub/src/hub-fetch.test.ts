import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHubFetch } from './hub-fetch.js';

const TOKEN = 'hf_WrapperToken42';

describe('createHubFetch', () => {
  let hub: Server;
  let other: Server;
  const seen: Array<{ server: string; url: string; authorization: string | undefined }> = [];
  const url = (server: Server, path: string) =>
    `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;

  beforeEach(async () => {
    seen.length = 0;
    const record = (name: string) => (request: IncomingMessage) =>
      seen.push({ server: name, url: request.url ?? '', authorization: request.headers.authorization });
    other = createServer((request, response) => {
      record('other')(request);
      response.end('cdn');
    });
    hub = createServer((request, response) => {
      record('hub')(request);
      if (request.url === '/away') response.writeHead(302, { Location: url(other, '/blob') }).end();
      else if (request.url === '/here') response.writeHead(307, { Location: '/final' }).end();
      else if (request.url === '/missing')
        response.writeHead(404, { 'X-Error-Code': 'RepoNotFound' }).end('{}');
      else response.end('hub');
    });
    await Promise.all(
      [hub, other].map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))),
    );
  });
  afterEach(async () => {
    for (const server of [hub, other]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('sends the token to the endpoint only, drops it on a redirect away, keeps it on one that stays', async () => {
    const { fetch } = createHubFetch({ endpoint: url(hub, ''), token: TOKEN, timeoutMs: 10_000 });
    expect(await (await fetch(url(hub, '/away'))).text()).toBe('cdn');
    expect(await (await fetch(url(hub, '/here'))).text()).toBe('hub');
    expect(seen).toEqual([
      { server: 'hub', url: '/away', authorization: `Bearer ${TOKEN}` },
      { server: 'other', url: '/blob', authorization: undefined },
      { server: 'hub', url: '/here', authorization: `Bearer ${TOKEN}` },
      { server: 'hub', url: '/final', authorization: `Bearer ${TOKEN}` },
    ]);
  });

  it("never sends the token elsewhere, but leaves a caller's own header to another origin alone", async () => {
    const { fetch } = createHubFetch({ endpoint: url(hub, ''), token: TOKEN, timeoutMs: 10_000 });
    await fetch(url(other, '/plain'));
    await fetch(url(other, '/cas'), { headers: { Authorization: 'Bearer xet-cas-token' } });
    expect(seen.map((request) => request.authorization)).toEqual([undefined, 'Bearer xet-cas-token']);
  });

  it('remembers the X-Error-Code of the last refusal', async () => {
    const wrapped = createHubFetch({ endpoint: url(hub, ''), token: undefined, timeoutMs: 10_000 });
    expect((await wrapped.fetch(url(hub, '/missing'))).status).toBe(404);
    expect(wrapped.lastFailure()).toMatchObject({ status: 404, errorCode: 'RepoNotFound' });
    expect(seen[0]!.authorization).toBeUndefined();
    wrapped.clearFailure();
    expect(wrapped.lastFailure()).toBeUndefined();
  });
});
