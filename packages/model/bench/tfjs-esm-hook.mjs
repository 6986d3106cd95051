// Node resolve hook for running sources with tsx: tfjs-core's ESM files (pulled in by
// @fusechat/backend's gradient registration) use extensionless relative imports such as
// `./gradients`, which also names a directory, and Node's ESM resolver rejects those.
// This maps them to the `.js` file next to the importer.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  if (
    parent.includes('/@tensorflow/tfjs-core/dist/') &&
    specifier.startsWith('.') &&
    !specifier.endsWith('.js')
  ) {
    const candidate = new URL(`${specifier}.js`, parent);
    if (existsSync(fileURLToPath(candidate))) return next(candidate.href, context);
  }
  return next(specifier, context);
}
