'use strict';
// The pthread worker of the multi-threaded tfjs wasm backend in Node (see wasmThreads.ts).
//
// Emscripten starts each pthread as `new Worker(<this file>)`. The worker code itself ships inside
// @tensorflow/tfjs-backend-wasm as a string (`wasmWorkerContents`, which the stock backend turns
// into a Blob URL, something Node's Worker cannot load). This file evaluates that string as the
// stock backend does: with '\n' escaped, since the string holds "\n" escapes that its template
// literal turned into real newlines. It runs as CommonJS, so the code sees `require` and
// `__filename`, which its Node branch uses. The package is resolved from this file's folder, as
// wasmThreads.js (its neighbour) resolves it on the main thread.
const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');

new Function('require', '__filename', '__dirname', wasmWorkerContents.replace(/\n/g, '\\n'))(
  require,
  __filename,
  __dirname,
);
