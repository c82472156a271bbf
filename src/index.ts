// --- backend: backend selection and fast wasm kernels (src/backend/) ---
export { initBackend, BACKEND_CHOICES } from './backend/initBackend.js';
export type { BackendChoice, InitBackendOptions } from './backend/initBackend.js';
export { registerWasmKernels, WASM_KERNELS } from './backend/registerWasmKernels.js';
