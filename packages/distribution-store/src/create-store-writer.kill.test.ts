// A real SIGKILL of a writing process at several points, then a resume: the store must come out
// byte-identical to an uninterrupted write.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { runSourceChild } from '../../../scripts/run-source-child.mjs';
import { snapshotDirectory } from '../../../scripts/test-support/snapshot-directory.js';
import { createStoreWriter, type StoreWriterOptions } from './create-store-writer.js';
import { testIdentity, testRecord } from './testing/fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fusechat-store-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const COUNT = 40;
const writerOptions = (): StoreWriterOptions => ({
  identity: testIdentity(),
  k: 4,
  nextTokenLogProbs: true,
  blockExamples: 2,
  shardTargetBytes: 700,
});
const records = Array.from({ length: COUNT }, (_, i) => testRecord(i, { nextTokenLogProbs: true }));

async function resumeAndFinish(dir: string) {
  const writer = await createStoreWriter(dir, writerOptions());
  const from = writer.cursor;
  for (let index = from; index < COUNT; index++) await writer.append(records[index]!, { cursor: index + 1 });
  await writer.finish();
  return from;
}

it('SIGKILL at several points, then resume: byte-identical to an uninterrupted write', async () => {
  const reference = join(root, 'reference');
  await resumeAndFinish(reference);
  const child = join(root, 'writer-child.mts');
  const url = (file: string) => JSON.stringify(pathToFileURL(join(here, file)).href);
  writeFileSync(
    child,
    `import { createStoreWriter } from ${url('create-store-writer.ts')};
import { testIdentity, testRecord } from ${url('testing/fixtures.ts')};
const writer = await createStoreWriter(process.argv[2], {
  identity: testIdentity(), k: 4, nextTokenLogProbs: true, blockExamples: 2, shardTargetBytes: 700,
});
for (let index = writer.cursor; index < ${COUNT}; index++) {
  await writer.append(testRecord(index, { nextTokenLogProbs: true }), { cursor: index + 1 });
  process.stdout.write(\`appended \${index + 1} committed \${writer.cursor}\\n\`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 15);
}
await writer.finish();
process.stdout.write('finished\\n');
`,
  );
  const packageDir = join(here, '..');
  const resumedFrom: number[] = [];
  for (const killAt of [2, 9, 23, 37]) {
    const dir = join(root, `killed-${killAt}`);
    const result = await runSourceChild(child, [dir], {
      cwd: packageDir,
      killWhen: (stdout) => stdout.includes(`appended ${killAt} `),
    });
    const output = result.stdout;
    // Killed, not exited on its own.
    expect({ killed: result.killed, code: result.code }).toEqual({ killed: true, code: null });
    expect(output).not.toContain('finished');
    resumedFrom.push(await resumeAndFinish(dir));
    expect(snapshotDirectory(dir)).toEqual(snapshotDirectory(reference));
  }
  // The kills landed at different commit points, not all before the first commit.
  expect(new Set(resumedFrom).size).toBeGreaterThan(2);
}, 120_000);
