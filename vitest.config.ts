import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Tests run against package sources: the `source` export condition points each
// `@fusechat/*` import at `src/*.ts`, so no build is needed before `pnpm test`.
const conditions = ['source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'examples/**/*.test.ts', 'scripts/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    typecheck: { enabled: false },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs backends are process-global; forks keep test files isolated from each other.
    pool: 'forks',
    maxWorkers: 2,
  },
});
