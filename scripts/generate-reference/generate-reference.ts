// Writes the generated reference pages (docs/reference/*.md) from the code they describe:
//   npm run docs:reference            write every page
//   npm run docs:reference -- --check list stale pages and exit 1, write nothing
// (the root script runs `node --conditions=source --import ./scripts/register-source-hooks.mjs
// --import tsx scripts/generate-reference/generate-reference.ts`).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GENERATED_REFERENCES, REGENERATE_COMMAND, repoRoot } from './references.js';

const check = process.argv.includes('--check');
const stale: string[] = [];
for (const reference of GENERATED_REFERENCES) {
  const file = join(repoRoot, reference.path);
  const markdown = await reference.render();
  const current = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (current === markdown) {
    console.error(`[fusechat] ${reference.path}: up to date`);
    continue;
  }
  stale.push(reference.path);
  if (check) continue;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, markdown);
  console.error(`[fusechat] ${reference.path}: written`);
}
if (check && stale.length > 0) {
  console.error(`[fusechat] stale: ${stale.join(', ')}; run \`${REGENERATE_COMMAND}\``);
  process.exitCode = 1;
}
// tfjs (imported by the CLI's commands) may leave handles open; the pages are written.
process.exit();
