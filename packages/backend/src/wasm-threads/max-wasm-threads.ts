/** XNNPACK's cap in tfjs-backend-wasm 4.22 (`max_num_threads` in backend.cc; the pool pre-spawns 8 workers). */
export const MAX_WASM_THREADS = 8;
