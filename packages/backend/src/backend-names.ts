/** A backend fusechat can run on, fastest first. */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** What {@link initBackend} accepts: a backend, or `auto` to take the first that works. */
export type BackendRequest = 'auto' | BackendName;

/** The order `auto` tries: CUDA, native CPU, WebAssembly, pure JavaScript. */
export const BACKEND_FALLBACK_ORDER: readonly BackendName[] = Object.freeze([
  'tensorflow-gpu',
  'tensorflow',
  'wasm',
  'cpu',
]);

/** Static facts about one backend: the npm package that provides it and its tfjs backend name. */
export interface BackendInfo {
  readonly name: BackendName;
  /** The package to install (`pnpm add <package>`) to make the backend available. */
  readonly packageName: string;
  /** The name tfjs registers the backend under (`tf.getBackend()`); both native packages use `tensorflow`. */
  readonly tfjsName: string;
  /** One line for `--help` texts and notices. */
  readonly description: string;
  /** `true` when the package installs with this one (no native download needed). */
  readonly bundled: boolean;
}

const BACKEND_INFO: Readonly<Record<BackendName, BackendInfo>> = Object.freeze({
  'tensorflow-gpu': Object.freeze({
    name: 'tensorflow-gpu',
    packageName: '@tensorflow/tfjs-node-gpu',
    tfjsName: 'tensorflow',
    description: 'libtensorflow with CUDA (NVIDIA GPU); install needs a libtensorflow download',
    bundled: false,
  }),
  tensorflow: Object.freeze({
    name: 'tensorflow',
    packageName: '@tensorflow/tfjs-node',
    tfjsName: 'tensorflow',
    description: 'native libtensorflow on the CPU; install needs a libtensorflow download',
    bundled: false,
  }),
  wasm: Object.freeze({
    name: 'wasm',
    packageName: '@tensorflow/tfjs-backend-wasm',
    tfjsName: 'wasm',
    description: 'WebAssembly with SIMD, ships its binaries, runs anywhere (portable default)',
    bundled: true,
  }),
  cpu: Object.freeze({
    name: 'cpu',
    packageName: '@tensorflow/tfjs-backend-cpu',
    tfjsName: 'cpu',
    description: 'pure JavaScript, slowest, always available',
    bundled: true,
  }),
});

/**
 * The backends fusechat knows, in `auto`'s fallback order, with the package providing each.
 *
 * @example
 * ```ts
 * for (const backend of listBackends()) console.log(`${backend.name}: ${backend.description}`);
 * ```
 */
export function listBackends(): readonly BackendInfo[] {
  return BACKEND_FALLBACK_ORDER.map((name) => BACKEND_INFO[name]);
}

/** `true` when `value` names a backend or `auto` — for validating CLI flags and configs. */
export function isBackendRequest(value: unknown): value is BackendRequest {
  return value === 'auto' || (typeof value === 'string' && Object.hasOwn(BACKEND_INFO, value));
}

/** @internal */
export function backendInfo(name: BackendName): BackendInfo {
  return BACKEND_INFO[name];
}
