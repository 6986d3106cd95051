// `node --import ./scripts/register-source-hooks.mjs --import tsx --conditions=source file.ts`
// runs TypeScript sources of the workspace directly (benchmarks, examples, the CLI from source).
// It registers the resolve hook that lets Node load tfjs-core's ESM gradient files; see
// tfjs-esm-hook.mjs.
import { register } from 'node:module';

register('./tfjs-esm-hook.mjs', import.meta.url);
