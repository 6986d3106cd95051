#!/usr/bin/env node
// The `fusechat` command: runs the built CLI (dist/bin.js). This file is committed, so package
// managers can link the bin in a fresh clone before its first build.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(fileURLToPath(built))) {
  process.stderr.write(
    'fusechat: the CLI is not built yet (packages/cli/dist/bin.js is missing): run `npm run setup` in the repository first [CLI_NOT_BUILT]\n',
  );
  process.exit(1);
}
await import(built.href);
