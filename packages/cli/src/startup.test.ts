import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Packages that take a large share of a second to import (tfjs and what loads it, fastify,
 * apache-arrow, yaml): the commands load them in their actions, never to be defined.
 */
const HEAVY_PACKAGES = [
  '@tensorflow/',
  '@fusechat/backend',
  '@fusechat/model',
  '@fusechat/pipeline',
  '@fusechat/training',
  '@fusechat/server',
  '@fusechat/merge',
  '@fusechat/hf-datasets',
  '@fusechat/distribution-capture',
  'yaml',
] as const;

/**
 * A module of a heavy package: imported by name, or a file in its workspace folder (sources) or
 * its node_modules folder (pnpm's store paths end in `node_modules/<name>/` too).
 */
function heavyPackage(specifier: string, url: string): string | undefined {
  return HEAVY_PACKAGES.find((name) => {
    const folder = name.endsWith('/') ? name : `${name}/`;
    const workspace = name.startsWith('@fusechat/')
      ? `/packages/${folder.slice('@fusechat/'.length)}`
      : undefined;
    return (
      specifier === name ||
      specifier.startsWith(folder) ||
      url.includes(`/node_modules/${folder}`) ||
      (workspace !== undefined && url.includes(workspace))
    );
  });
}

const root = fileURLToPath(new URL('../../../', import.meta.url));
const programUrl = new URL('./program.ts', import.meta.url).href;

// A resolve hook writing one line per resolution (specifier, importer, resolved URL) to a file,
// registered after tsx's hooks (so it sees the final URLs) and before program.ts is imported.
const RECORDER = `
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(file, JSON.stringify({ specifier, url: resolved.url, parent: context.parentURL }) + '\\n');
  return resolved;
}
`;

const SCRIPT = `
import { register, createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [recorder, file, cjsFile, programUrl] = process.argv.slice(2);
register(pathToFileURL(recorder), { data: { file } });
const { createProgram } = await import(programUrl);
const program = createProgram({ exitOverride: true });
const walk = (command) => { command.helpInformation(); command.commands.forEach(walk); };
walk(program);
// CommonJS modules (which an ESM resolve hook does not see when they require each other).
writeFileSync(cjsFile, JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));
`;

describe('fusechat startup', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fusechat-cli-startup-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('building the program (every command, its options and help) loads no heavy package', async () => {
    const recorder = join(dir, 'recorder.mjs');
    const script = join(dir, 'build-program.mjs');
    const resolved = join(dir, 'resolved.jsonl');
    const cjs = join(dir, 'cjs.json');
    writeFileSync(recorder, RECORDER);
    writeFileSync(script, SCRIPT);
    writeFileSync(resolved, '');
    await promisify(execFile)(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        pathToFileURL(join(root, 'scripts', 'register-source-hooks.mjs')).href,
        '--import',
        'tsx',
        script,
        recorder,
        resolved,
        cjs,
        programUrl,
      ],
      { cwd: root },
    );
    const modules = readFileSync(resolved, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { specifier: string; url: string; parent?: string });
    const required = (JSON.parse(readFileSync(cjs, 'utf8')) as string[]).map((path) => ({
      specifier: path,
      url: pathToFileURL(path).href,
      parent: undefined,
    }));
    // The recorder saw the program being built (not an empty list by mistake).
    expect(modules.map((module) => module.url)).toEqual(
      expect.arrayContaining([programUrl, expect.stringContaining('/packages/core/src/')]),
    );
    expect(required.map((module) => module.url)).toEqual(
      expect.arrayContaining([expect.stringContaining('/node_modules/commander/')]),
    );
    // Each heavy package loaded, with the first import of it (to see which file to make lazy).
    const heavy = new Map<string, string>();
    for (const module of [...modules, ...required]) {
      const name = heavyPackage(module.specifier, module.url);
      if (name !== undefined && !heavy.has(name))
        heavy.set(name, `${module.specifier} from ${module.parent ?? '(require)'}`);
    }
    expect(Object.fromEntries(heavy)).toEqual({});
  });

  it('recognises the heavy packages by name and by where their files are', () => {
    const cases: [specifier: string, url: string, expected: string | undefined][] = [
      [
        '@tensorflow/tfjs-core',
        'file:///x/node_modules/.pnpm/@tensorflow+tfjs-core@4.22.0/node_modules/@tensorflow/tfjs-core/dist/index.js',
        '@tensorflow/',
      ],
      ['@fusechat/pipeline', 'file:///repo/packages/pipeline/src/index.ts', '@fusechat/pipeline'],
      ['./index.js', 'file:///repo/packages/merge/src/index.ts', '@fusechat/merge'],
      ['./x.js', 'file:///app/node_modules/@fusechat/model/dist/index.js', '@fusechat/model'],
      ['yaml', 'file:///x/node_modules/.pnpm/yaml@2.9.1/node_modules/yaml/dist/index.js', 'yaml'],
      ['@fusechat/core', 'file:///repo/packages/core/src/index.ts', undefined],
      ['./program.js', 'file:///repo/packages/cli/src/program.ts', undefined],
      [
        'commander',
        'file:///x/node_modules/.pnpm/commander@14.0.3/node_modules/commander/index.js',
        undefined,
      ],
    ];
    for (const [specifier, url, expected] of cases) expect(heavyPackage(specifier, url), url).toBe(expected);
  });
});
