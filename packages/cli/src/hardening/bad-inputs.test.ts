import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@fusechat/backend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCaptured, saveTinyLlama } from '../test-fixtures.js';
import { type BadInput, writeBadInputCorpus } from './bad-inputs.js';

const root = mkdtempSync(join(tmpdir(), 'fusechat-bad-inputs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** SHA-256 over every regular file below `dir` (names and bytes): "unchanged" means equal. */
function treeHash(dir: string): string {
  const hash = createHash('sha256');
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const full = join(path, entry.name);
      hash.update(`${full}\n`);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) hash.update(readFileSync(full));
      else hash.update(`special ${statSync(full).mode}\n`);
    }
  };
  walk(dir);
  return hash.digest('hex');
}

/** What the CLI's stderr must look like on failure: problem lines, then one coded line, no stack. */
const FINAL_LINE = /\nfusechat: [^\n]+ \[([A-Z][A-Z0-9_]+)\]\n$/;

describe('the hardening corpus (bad inputs of every class)', () => {
  let cases: BadInput[] = [];
  beforeAll(async () => {
    await initBackend('cpu', { quiet: true });
    const modelDir = join(root, 'model');
    await saveTinyLlama(modelDir, 11);
    cases = await writeBadInputCorpus(join(root, 'corpus'), modelDir);
  });

  it('answers every bad input with exactly one coded line, a non-zero exit and no change to its inputs', async () => {
    const answered = new Map<string, number>();
    const mismatches: string[] = [];
    const cwd = process.cwd();
    for (const item of cases) {
      const hashes = item.untouched.map(treeHash);
      const undo = await item.before?.();
      if (item.cwd) process.chdir(item.cwd);
      let result: Awaited<ReturnType<typeof runCaptured>>;
      try {
        result = await runCaptured([...item.argv]);
      } finally {
        process.chdir(cwd);
        await undo?.();
      }
      const code = FINAL_LINE.exec(`\n${result.stderr}`)?.[1] ?? null;
      const problems: string[] = [];
      if (result.code !== item.exit) problems.push(`exit ${result.code}, expected ${item.exit}`);
      if (item.code === null) {
        if (code !== null) problems.push(`failed: ${result.stderr.trim()}`);
        if (item.sameOutputAs !== undefined) {
          const reference = await runCaptured([...item.sameOutputAs]);
          if (reference.stdout === '' || reference.stdout !== result.stdout)
            problems.push(
              `printed ${JSON.stringify(result.stdout)}, expected ${JSON.stringify(reference.stdout)}`,
            );
        }
      } else {
        if (code === null)
          problems.push(`no final coded line in ${JSON.stringify(result.stderr.slice(-300))}`);
        else if (code !== item.code) problems.push(`code ${code}, expected ${item.code}`);
        if (/\n\s+at /.test(result.stderr)) problems.push('a stack trace without --verbose');
        if ((result.stderr.match(/^fusechat: /gm) ?? []).length !== 1)
          problems.push('more than one fusechat: line');
      }
      item.untouched.forEach((dir, i) => {
        if (treeHash(dir) !== hashes[i]) problems.push(`${dir} changed`);
      });
      if (problems.length > 0) mismatches.push(`${item.kind} / ${item.name}: ${problems.join('; ')}`);
      const key = item.code === null ? 'succeeded safely' : (code ?? 'no code');
      answered.set(key, (answered.get(key) ?? 0) + 1);
    }
    const byKind = new Map<string, number>();
    for (const item of cases) byKind.set(item.kind, (byKind.get(item.kind) ?? 0) + 1);
    // The summary line the issue asks for: how many bad inputs were tried and how each was answered.
    console.log(
      `hardening corpus: ${cases.length} bad inputs tried (${[...byKind].map(([k, n]) => `${n} ${k}`).join(', ')}); answered: ${[
        ...answered,
      ]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${n}× ${k}`)
        .join(', ')}`,
    );
    expect(mismatches).toEqual([]);
    expect(cases.length).toBeGreaterThan(50);
  });
});
