// The browser entry's whole module graph must be free of Node built-ins, so that bundlers (Vite)
// can ship it to a browser. This bundles dist/index.js exactly as Vite would for a page.
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

async function bundleImports(entry: string): Promise<{ builtinsSeen: string[]; modules: string[] }> {
  const { build } = await import('vite');
  const builtinsSeen: string[] = [];
  const modules: string[] = [];
  await build({
    configFile: false,
    logLevel: 'silent',
    root,
    build: {
      write: false,
      lib: { entry, formats: ['es'], fileName: 'bundle' },
      rollupOptions: { external: [/^@tensorflow\//] },
    },
    plugins: [
      {
        name: 'record-imports',
        enforce: 'pre',
        resolveId(source) {
          if (builtins.has(source)) builtinsSeen.push(source);
          return null;
        },
        load(id) {
          modules.push(id);
          return null;
        },
      },
    ],
  });
  return { builtinsSeen, modules };
}

describe('browser entry', () => {
  it('dist/index.js pulls in no Node built-in', async () => {
    const { builtinsSeen, modules } = await bundleImports(`${root}dist/index.js`);
    expect(modules.length).toBeGreaterThan(5);
    expect(builtinsSeen).toEqual([]);
  }, 60_000);

  it('the check itself notices Node built-ins', async () => {
    const { builtinsSeen } = await bundleImports(`${root}test/fixtures/usesFs.js`);
    expect(builtinsSeen.sort()).toEqual(['node:fs', 'path']);
  }, 60_000);
});
