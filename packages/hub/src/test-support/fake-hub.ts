// Test-only: a loopback stand-in for the Hugging Face Hub's download routes. Not exported.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One file of a fake repo commit. LFS files are served through a redirect to the CDN. */
export interface FakeFile {
  readonly path: string;
  readonly content: Uint8Array;
  readonly lfs?: boolean;
}

export interface FakeRepo {
  readonly repo: string;
  /** commit hash → files. */
  readonly commits: Readonly<Record<string, readonly FakeFile[]>>;
  /** branch or tag → commit hash. */
  readonly refs: Readonly<Record<string, string>>;
  readonly private?: boolean;
  /** Gated: the token must be in `grantedTokens`. */
  readonly gated?: boolean;
}

export interface RecordedRequest {
  readonly server: 'hub' | 'cdn';
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly range: string | undefined;
}

export interface FakeHub {
  /** Base URL to use as HF_ENDPOINT. */
  readonly endpoint: string;
  readonly cdn: string;
  readonly requests: RecordedRequest[];
  /** The next download of `path` (hub or CDN body) sends `bytes` bytes, then drops the connection. */
  cutOnce(path: string, bytes: number): void;
  /** Serve `content` instead of the real bytes for `path` (a corrupt CDN). */
  corrupt(path: string, content: Uint8Array): void;
  close(): Promise<void>;
}

export function sha256(content: Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

/** The git blob id of `content`: what the Hub sends as the ETag of a non-LFS file. */
export function gitBlobId(content: Uint8Array): string {
  return createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');
}

export function etagOf(file: FakeFile): string {
  return file.lfs ? sha256(file.content) : gitBlobId(file.content);
}

/** A valid safetensors file with one F32 tensor `weight` of the given values. */
export function tinySafetensors(values: readonly number[], name = 'weight'): Uint8Array {
  const header = JSON.stringify({
    [name]: { dtype: 'F32', shape: [values.length], data_offsets: [0, values.length * 4] },
  });
  const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
  const bytes = new Uint8Array(8 + padded.length + values.length * 4);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(padded.length), true);
  bytes.set(new TextEncoder().encode(padded), 8);
  for (const [index, value] of values.entries()) view.setFloat32(8 + padded.length + index * 4, value, true);
  return bytes;
}

export async function startFakeHub(options: {
  repos: readonly FakeRepo[];
  /** Tokens the Hub accepts. */
  tokens?: readonly string[];
  /** Tokens granted access to gated repos. */
  grantedTokens?: readonly string[];
}): Promise<FakeHub> {
  const requests: RecordedRequest[] = [];
  const cuts = new Map<string, number>();
  const corrupted = new Map<string, Uint8Array>();
  const blobsBySha = new Map<string, FakeFile>();
  for (const repo of options.repos) {
    for (const files of Object.values(repo.commits))
      for (const file of files) if (file.lfs) blobsBySha.set(sha256(file.content), file);
  }
  const tokens = new Set(options.tokens ?? []);
  const granted = new Set(options.grantedTokens ?? []);

  const cdn = await listen((request, response) => {
    record('cdn', request);
    const match = /^\/blobs\/([0-9a-f]{64})/.exec(request.url ?? '');
    const file = match ? blobsBySha.get(match[1]!) : undefined;
    if (!file) return fail(response, 404, undefined, 'no such blob');
    serveBytes(request, response, file, { ETag: `"${sha256(file.content)}"` });
  });
  const cdnOrigin = origin(cdn);

  const hub = await listen((request, response) => {
    record('hub', request);
    const url = new URL(request.url ?? '/', 'http://hub');
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const route = api ?? resolve;
    if (!route) return fail(response, 404, undefined, 'no route');
    const repo = options.repos.find((candidate) => candidate.repo === route[1]);
    const authorization = request.headers.authorization;
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
    if (token !== undefined && !tokens.has(token)) {
      return fail(response, 401, undefined, 'Invalid credentials in Authorization header');
    }
    if (!repo || (repo.private && token === undefined)) {
      return fail(response, token === undefined ? 401 : 404, 'RepoNotFound', 'Repository not found');
    }
    if (repo.gated && (token === undefined || !granted.has(token))) {
      return fail(
        response,
        token === undefined ? 401 : 403,
        'GatedRepo',
        'Access to this model is restricted',
      );
    }
    const revision = decodeURIComponent(route[2]!);
    const commit = repo.commits[revision] ? revision : repo.refs[revision];
    const files = commit === undefined ? undefined : repo.commits[commit];
    if (commit === undefined || files === undefined) {
      return fail(response, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    }
    if (api) {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(
        JSON.stringify({
          _id: 'fake',
          id: repo.repo,
          sha: commit,
          private: Boolean(repo.private),
          gated: repo.gated ? 'manual' : false,
          downloads: 0,
          likes: 0,
          lastModified: '2026-01-01T00:00:00.000Z',
          pipeline_tag: 'text-generation',
          siblings: files.map((file) => ({ rfilename: file.path })),
        }),
      );
      return;
    }
    const path = resolve![3]!;
    const file = files.find((candidate) => candidate.path === path);
    if (!file) return fail(response, 404, 'EntryNotFound', `${path} does not exist on "${revision}"`);
    const common = { 'X-Repo-Commit': commit, 'Access-Control-Expose-Headers': 'X-Repo-Commit' };
    if (file.lfs) {
      const sha = sha256(file.content);
      response.writeHead(302, {
        ...common,
        Location: `${cdnOrigin}/blobs/${sha}?expires=1`,
        'X-Linked-Etag': `"${sha}"`,
        'X-Linked-Size': String(file.content.byteLength),
        ETag: `"${gitBlobId(new TextEncoder().encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\n`))}"`,
      });
      response.end();
      return;
    }
    serveBytes(request, response, file, { ...common, ETag: `"${gitBlobId(file.content)}"` });
  });

  function record(server: 'hub' | 'cdn', request: IncomingMessage): void {
    requests.push({
      server,
      method: request.method ?? 'GET',
      url: request.url ?? '',
      authorization: request.headers.authorization,
      range: request.headers.range,
    });
  }

  function serveBytes(
    request: IncomingMessage,
    response: ServerResponse,
    file: FakeFile,
    headers: Record<string, string>,
  ): void {
    const content = corrupted.get(file.path) ?? file.content;
    const size = content.byteLength;
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    if (range) {
      start = Number(range[1]);
      end = range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
      if (start >= size) {
        response.writeHead(416, { 'Content-Range': `bytes */${size}` });
        response.end();
        return;
      }
    }
    const body = content.subarray(start, end + 1);
    response.writeHead(range ? 206 : 200, {
      ...headers,
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(body.byteLength),
      'Accept-Ranges': 'bytes',
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    const cut = cuts.get(file.path);
    // A 0-0 probe is never cut: only a real body transfer is.
    if (cut !== undefined && body.byteLength > 1) {
      cuts.delete(file.path);
      response.write(body.subarray(0, cut), () => response.destroy());
      return;
    }
    response.end(body);
  }

  return {
    endpoint: origin(hub),
    cdn: cdnOrigin,
    requests,
    cutOnce: (path, bytes) => cuts.set(path, bytes),
    corrupt: (path, content) => corrupted.set(path, content),
    close: async () => {
      await Promise.all([closeServer(hub), closeServer(cdn)]);
    },
  };
}

function fail(response: ServerResponse, status: number, code: string | undefined, message: string): void {
  response.writeHead(status, {
    'Content-Type': 'application/json',
    ...(code ? { 'X-Error-Code': code } : {}),
    'X-Error-Message': message,
  });
  response.end(JSON.stringify({ error: message }));
}

async function listen(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function origin(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
