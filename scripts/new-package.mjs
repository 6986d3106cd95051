#!/usr/bin/env node
// Scaffolds packages/<name> with the repo's package conventions:
//   node scripts/new-package.mjs <name> "<description>" [dep ...]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [name, description = '', ...deps] = process.argv.slice(2);
if (!name) {
  console.error('usage: node scripts/new-package.mjs <name> "<description>" [workspace-dep ...]');
  process.exit(1);
}
const dir = join('packages', name);
if (existsSync(dir)) {
  console.error(`${dir} exists`);
  process.exit(1);
}
mkdirSync(join(dir, 'src'), { recursive: true });
const entry = (sub) => ({
  source: `./src/${sub}.ts`,
  import: { types: `./dist/${sub}.d.ts`, default: `./dist/${sub}.js` },
  require: { types: `./dist/${sub}.d.cts`, default: `./dist/${sub}.cjs` },
});
const pkg = {
  name: `@fusechat/${name}`,
  version: '0.0.0',
  description,
  license: 'Apache-2.0',
  type: 'module',
  sideEffects: false,
  main: './dist/index.cjs',
  module: './dist/index.js',
  types: './dist/index.d.ts',
  exports: { '.': entry('index'), './package.json': './package.json' },
  files: ['dist', 'src', '!src/**/*.test.ts', '!src/**/*.test-d.ts'],
  scripts: {
    build: 'tsup',
    typecheck: 'tsc --noEmit -p .',
    publint: 'publint --strict',
  },
  dependencies: Object.fromEntries(deps.map((d) => [`@fusechat/${d}`, 'workspace:*'])),
  publishConfig: { access: 'public' },
  repository: { type: 'git', url: 'https://github.com/fusechat/fusechat', directory: dir },
};
writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
writeFileSync(
  join(dir, 'tsconfig.json'),
  `${JSON.stringify({ extends: '../../tsconfig.base.json', include: ['src'] }, null, 2)}\n`,
);
writeFileSync(
  join(dir, 'tsup.config.ts'),
  `import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
`,
);
writeFileSync(join(dir, 'src', 'index.ts'), `export {};\n`);
console.log(`created ${dir}`);
