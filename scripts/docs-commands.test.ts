// The commands and snippets of README.md and docs/getting-started.md, run as written from the
// clone (after the repo's own build), with tiny fixtures for the files they name. Every fenced
// block is checked; what a block is for is said by the `<!-- docs-test: … -->` line above it:
//   (none)                     sh: every line runs (in a scratch directory inside the clone);
//                              ts/js: saved as .mjs and run with node in the directory `run-in` names
//   run-in DIR                 ts/js: run in a scratch directory under DIR (a project that can
//                              resolve the imports), with the files of the `file` blocks beside it
//   file NAME                  the block is the content of NAME (written into the scratch directory)
//   synopsis                   `fusechat CMD …` lines: CMD exists and its --help lists every --flag shown
//   after-publish              installs from the registry: every @fusechat/* named is a publishable
//                              package (scripts/pack-install.test.ts installs them from tarballs)
//   scripts                    `npm run X` / `pnpm X` lines: X is a root script (not run: they are
//                              the whole-repo build/test/typecheck/lint, which CI runs anyway)
//   skip REASON                not run, for the reason given
// Besides, every `fusechat CMD …` line in a shell block of any docs/**/*.md is checked as a synopsis.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyFamily } from '../examples/merge-only/src/tiny-checkpoints.js';
import { buildCli, repoRoot, userEnv, withBuildLock } from './test-support/build-cli.js';
import { extractFencedBlocks, type FencedBlock } from './test-support/markdown-blocks.js';

const RUN_FULLY = ['README.md', 'docs/getting-started.md'];
const SHELL = new Set(['sh', 'bash', 'shell', 'console']);
const SCRIPT = new Set(['ts', 'js', 'mjs', 'typescript', 'javascript']);
const cliBin = join(repoRoot, 'packages', 'cli', 'dist', 'bin.js');

const scratchDirs: string[] = [];
const helpCache = new Map<string, { code: number | null; text: string }>();

function scratchIn(dir: string): string {
  const parent = join(repoRoot, dir, '.test-tmp');
  mkdirSync(parent, { recursive: true });
  const made = mkdtempSync(join(parent, 'docs-'));
  scratchDirs.push(made);
  return made;
}

/** The models a snippet names: a tiny llama-style pivot and two targets, written by the repo's own code. */
async function writeFixtures(dir: string): Promise<void> {
  await writeTinyFamily(dir, { seed: 7 });
  renameSync(join(dir, 'target-a'), join(dir, 'target-1'));
  renameSync(join(dir, 'target-b'), join(dir, 'target-2'));
}

function shell(command: string, cwd: string) {
  const result = spawnSync('bash', ['-c', command], {
    cwd,
    env: userEnv(),
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { code: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/** Shell commands without comments and blank lines, `\`-continued lines joined. */
function commandLines(block: FencedBlock): string[] {
  return block.code
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter((line) => line !== '');
}

function help(command: string): { code: number | null; text: string } {
  let cached = helpCache.get(command);
  if (!cached) {
    const result = spawnSync(process.execPath, [cliBin, ...command.split(' '), '--help'], {
      encoding: 'utf8',
    });
    cached = { code: result.status, text: `${result.stdout}${result.stderr}` };
    helpCache.set(command, cached);
  }
  return cached;
}

/** Problems with one `fusechat CMD …` synopsis line: an unknown command or an option its --help does not list. */
function synopsisProblems(line: string): string[] {
  const words = line.replace(/^npx\s+/, '').split(/\s+/);
  if (words[0] !== 'fusechat') return [];
  const command = words[1];
  if (!command || command.startsWith('-')) return [];
  const top = help(command);
  if (top.code !== 0) return [`\`fusechat ${command}\` is not a command (${top.text.trim().split('\n')[0]})`];
  // `fusechat store dump STORE --limit 2`: a subcommand's options are in its own --help.
  const subcommands = (words[2] ?? '').split('|').filter((word) => /^[a-z][\w-]*$/.test(word));
  const shownSubs = subcommands.map((word) => help(`${command} ${word}`)).filter((sub) => sub.code === 0);
  const shown = { text: [top.text, ...shownSubs.map((sub) => sub.text)].join('\n') };
  const flags = [...line.matchAll(/(?<![\w-])--[a-z][\w-]*/g)].map((match) => match[0]);
  return flags
    .filter((flag) => !new RegExp(`${flag}(?![\\w-])`).test(shown.text))
    .map((flag) => `\`fusechat ${command} --help\` does not list ${flag}`);
}

function rootScripts(): Record<string, string> {
  return JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).scripts;
}

function publishableNames(): Set<string> {
  const names = new Set<string>();
  for (const dir of readdirSync(join(repoRoot, 'packages'))) {
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'packages', dir, 'package.json'), 'utf8'));
    if (!manifest.private) names.add(manifest.name);
  }
  return names;
}

beforeAll(() => buildCli(), 900_000);

afterAll(() => {
  for (const dir of scratchDirs) {
    rmSync(dir, { recursive: true, force: true });
    // The `.test-tmp` made for it, when nothing else is in it.
    const parent = dirname(dir);
    if (existsSync(parent) && readdirSync(parent).length === 0)
      rmSync(parent, { recursive: true, force: true });
  }
});

for (const file of RUN_FULLY) {
  describe(`${file}, run as written`, () => {
    const markdown = readFileSync(join(repoRoot, file), 'utf8');
    const blocks = extractFencedBlocks(markdown);
    const files = blocks.filter((block) => block.directive?.startsWith('file '));

    for (const block of blocks) {
      const where = `${file}:${block.line}`;
      const directive = block.directive ?? '';
      if (directive.startsWith('file ') || (!SHELL.has(block.lang) && !SCRIPT.has(block.lang))) continue;

      if (directive.startsWith('skip')) {
        it(`${where} is skipped with a reason`, () => {
          expect(directive.replace(/^skip:?/, '').trim().length, `${where}: say why`).toBeGreaterThan(10);
        });
      } else if (directive === 'synopsis') {
        it(`${where}: every command and option exists`, () => {
          const problems = commandLines(block).flatMap(synopsisProblems);
          expect(problems).toEqual([]);
          expect(commandLines(block).every((line) => line.startsWith('fusechat '))).toBe(true);
        });
      } else if (directive === 'after-publish') {
        it(`${where}: names only publishable packages`, () => {
          const known = publishableNames();
          const named = [...block.code.matchAll(/@fusechat\/[\w-]+/g)].map((match) => match[0]);
          expect(named.length).toBeGreaterThan(0);
          expect(named.filter((name) => !known.has(name))).toEqual([]);
        });
      } else if (directive === 'scripts') {
        it(`${where}: every script exists in the root package.json`, () => {
          const scripts = rootScripts();
          for (const line of commandLines(block)) {
            const name = /^(?:npm run|pnpm)\s+([\w:-]+)/.exec(line)?.[1];
            expect(name, `${where}: ${line}`).toBeDefined();
            expect(Object.keys(scripts), `${where}: ${line}`).toContain(name);
          }
        });
      } else if (SHELL.has(block.lang)) {
        it(`${where}: every command succeeds`, async () => {
          const dir = scratchIn('.');
          await writeFixtures(dir);
          for (const other of files)
            writeFileSync(join(dir, (other.directive as string).slice(5).trim()), other.code);
          for (const line of commandLines(block)) {
            // `npm run setup` / `npm run fusechat` build: never beside another test file's build.
            const result = withBuildLock(() => shell(line, dir));
            expect(result.code, `${where}: \`${line}\` in ${relative(repoRoot, dir)}\n${result.output}`).toBe(
              0,
            );
          }
          // `npm run setup` / `npm run fusechat` rebuild what is stale: minutes on a busy machine.
        }, 1_200_000);
      } else {
        it(`${where}: the snippet runs`, async () => {
          const runIn = directive.startsWith('run-in ') ? directive.slice(7).trim() : '.';
          const dir = scratchIn(runIn);
          await writeFixtures(dir);
          for (const other of files)
            writeFileSync(join(dir, (other.directive as string).slice(5).trim()), other.code);
          writeFileSync(join(dir, 'snippet.mjs'), block.code);
          const result = spawnSync(process.execPath, ['snippet.mjs'], {
            cwd: dir,
            env: userEnv(),
            encoding: 'utf8',
          });
          expect(
            result.status,
            `${where} in ${relative(repoRoot, dir)}\n${result.stdout}${result.stderr}`,
          ).toBe(0);
        });
      }
    }
  });
}

describe('every `fusechat …` line in docs/', () => {
  const docs = ['README.md', ...walk('docs')];
  for (const file of docs) {
    const lines = extractFencedBlocks(readFileSync(join(repoRoot, file), 'utf8'))
      .filter((block) => SHELL.has(block.lang) && block.directive !== 'after-publish')
      .flatMap((block) => commandLines(block))
      .filter((line) => /^(npx\s+)?fusechat\s+[a-z]/.test(line));
    if (lines.length === 0) continue;
    it(`${file}: commands and options exist`, () => {
      expect(lines.flatMap(synopsisProblems)).toEqual([]);
    });
  }
});

function walk(dir: string): string[] {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? walk(join(dir, entry.name))
      : entry.name.endsWith('.md')
        ? [join(dir, entry.name)]
        : [],
  );
}
