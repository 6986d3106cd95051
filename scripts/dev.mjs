#!/usr/bin/env node
// The repo's entry point for `npm test`, `npm run demo` and friends.
//
// Works on a fresh machine with only Node 20 and npm: it runs the pnpm version pinned in
// package.json#packageManager through npx (no global install, no corepack), installs the
// workspace from the lockfile when node_modules is missing or stale, then runs the task.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pnpmVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];
const bin = (name) => join(root, 'node_modules', '.bin', name);

// Tools run with the workspace's bin directory first on PATH: turbo looks for a `pnpm` binary
// there (the pinned one is a root devDependency), so no global pnpm is needed.
const env = {
  ...process.env,
  PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}`,
};

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env, ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function pnpm(args) {
  const usingPinnedPnpm = (process.env.npm_config_user_agent ?? '').startsWith(`pnpm/${pnpmVersion}`);
  if (usingPinnedPnpm && process.env.npm_execpath)
    return run(process.execPath, [process.env.npm_execpath, ...args]);
  return run('npx', ['--yes', `pnpm@${pnpmVersion}`, ...args]);
}

function ensureInstalled() {
  const marker = join(root, 'node_modules', '.modules.yaml');
  const lockfile = join(root, 'pnpm-lock.yaml');
  const stale = !existsSync(marker) || statSync(lockfile).mtimeMs > statSync(marker).mtimeMs;
  if (!stale) return;
  console.error(`[fusechat] installing the workspace with pnpm ${pnpmVersion} (from the lockfile)…`);
  const status = pnpm(['install', '--frozen-lockfile']);
  if (status !== 0) {
    console.error('[fusechat] pnpm install failed; see the output above.');
    process.exit(status);
  }
}

function exitWith(status) {
  process.exit(status);
}

// Builds the `fusechat` command and the packages it depends on (turbo: only what is stale), so
// `node_modules/.bin/fusechat` (what `npx fusechat` runs from the clone) has a current dist/bin.js.
function buildCli() {
  // turbo's summary goes to stderr, so `npm run --silent fusechat -- eval …` prints only the JSON.
  return run(bin('turbo'), ['run', 'build', '--filter=@fusechat/cli...', '--output-logs=errors-only'], {
    stdio: ['inherit', 2, 'inherit'],
  });
}

function runCli(args) {
  const built = buildCli();
  if (built !== 0) return built;
  return run(process.execPath, [join(root, 'packages', 'cli', 'dist', 'bin.js'), ...args], {
    cwd: process.env.INIT_CWD ?? process.cwd(),
  });
}

function test(args) {
  const outDir = join(root, '.test-results');
  mkdirSync(outDir, { recursive: true });
  const outputFile = join(outDir, 'vitest.json');
  const status = run(bin('vitest'), [
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${outputFile}`,
    ...args,
  ]);
  // A plain, runner-independent closing line: "tests: N passed, N failed, N skipped".
  if (existsSync(outputFile)) {
    const report = JSON.parse(readFileSync(outputFile, 'utf8'));
    const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    const failedSuites = report.testResults.filter(
      (file) => file.status === 'failed' && file.assertionResults.length === 0,
    );
    for (const file of failedSuites)
      console.log(`failed to run: ${relative(root, file.name)}: ${file.message}`);
    const failed = report.numFailedTests + failedSuites.length;
    console.log(`tests: ${report.numPassedTests} passed, ${failed} failed, ${skipped} skipped`);
    if (report.numTotalTests === 0) {
      console.error('[fusechat] no tests ran');
      return 1;
    }
  }
  return status;
}

function findBenchmarks(name) {
  const found = [];
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const dir = join(root, 'packages', pkg, 'bench');
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) {
      if (!file.endsWith('.bench.ts')) continue;
      const benchName = file.replace(/\.bench\.ts$/, '');
      if (!name || name === pkg || name === benchName) found.push(join(dir, file));
    }
  }
  return found;
}

function bench(args) {
  const [name, ...rest] = args;
  const files = findBenchmarks(name);
  if (files.length === 0) {
    const known = [
      ...new Set(
        findBenchmarks().map((f) =>
          f
            .split('/')
            .at(-1)
            .replace(/\.bench\.ts$/, ''),
        ),
      ),
    ];
    console.error(`[fusechat] no benchmark named "${name}". Known: ${known.join(', ') || '(none)'}`);
    return 1;
  }
  for (const file of files) {
    console.log(`\n=== ${relative(root, file)} ===`);
    const status = run(process.execPath, [
      '--conditions=source',
      '--expose-gc',
      '--import',
      join(root, 'scripts', 'register-source-hooks.mjs'),
      '--import',
      'tsx',
      file,
      ...rest,
    ]);
    if (status !== 0) return status;
  }
  return 0;
}

const [task = 'test', ...args] = process.argv.slice(2);
ensureInstalled();
switch (task) {
  case 'setup':
    // Install, then build the CLI so `npx fusechat …` works from the clone.
    exitWith(buildCli());
    break;
  case 'test':
    exitWith(test(args));
    break;
  case 'build':
    exitWith(run(bin('turbo'), ['run', 'build', ...args]));
    break;
  case 'typecheck':
    exitWith(run(bin('turbo'), ['run', 'typecheck', ...args]));
    break;
  case 'lint':
    exitWith(run(bin('biome'), ['check', '.', ...args]));
    break;
  case 'bench':
    exitWith(bench(args));
    break;
  case 'demo':
    exitWith(runCli(['demo', ...args]));
    break;
  case 'reproduce':
    // `npm run reproduce -- [--seeds 1,2,3] [--quick]`: docs/results.md (scripts/reproduce.ts).
    exitWith(
      run(process.execPath, [
        '--conditions=source',
        '--import',
        join(root, 'scripts', 'register-source-hooks.mjs'),
        '--import',
        'tsx',
        join(root, 'scripts', 'reproduce.ts'),
        ...args,
      ]),
    );
    break;
  case 'fusechat':
    // `npm run fusechat -- <args>`: rebuild what is stale, then run the CLI in the caller's directory.
    exitWith(runCli(args));
    break;
  default:
    console.error(
      `[fusechat] unknown task "${task}". Known: setup, test, build, typecheck, lint, bench, demo, reproduce, fusechat`,
    );
    exitWith(1);
}
