// Node resolve hook for running @fusechat packages from sources (tsx, `--conditions=source`): the
// tfjs-core gradient modules it registers are ESM with extensionless relative imports
// (`./gradients/Abs_grad`), which Node's ESM resolver rejects. The published build bundles them,
// and vitest resolves them itself; only source runs under plain Node need this.

export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  const inTfjsCore =
    parent.includes('/@tensorflow/tfjs-core/dist/') || specifier.startsWith('@tensorflow/tfjs-core/dist/');
  if (inTfjsCore && !specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('@'))) {
    try {
      return await next(`${specifier}.js`, context);
    } catch {
      // fall through to the specifier as written
    }
  }
  return next(specifier, context);
}
