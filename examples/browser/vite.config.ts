import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// The page imports 'segmentation-models-tfjs' exactly as an application would; here it resolves to
// this repository's browser build (run `npm run build` first).
export default defineConfig({
  root: here('.'),
  base: './',
  resolve: {
    alias: { 'segmentation-models-tfjs': here('../../dist/index.js') },
  },
  build: {
    outDir: here('../../dist-example'),
    emptyOutDir: true,
    chunkSizeWarningLimit: 4096,
  },
});
