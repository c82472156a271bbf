// The weight loaders as a browser sees them: the browser entry only (no file access registered),
// a Cache API, and a fetch that hides redirect responses the way browsers do.
import { afterEach, describe, expect, it } from 'vitest';
import {
  fetchPretrainedFile,
  fetchWeights,
  pretrainedFileCachePath,
  readSmpCheckpoint,
  weightsCacheDir,
  writeSafetensors,
} from '../src/index.js';

/** A Map-backed stand-in for the browser's CacheStorage. */
function fakeCaches() {
  const stores = new Map<string, Map<string, Uint8Array>>();
  return {
    stores,
    async open(name: string) {
      if (!stores.has(name)) stores.set(name, new Map());
      const store = stores.get(name)!;
      return {
        async match(url: string) {
          const b = store.get(url);
          return b === undefined ? undefined : new Response(b as Uint8Array<ArrayBuffer>);
        },
        async put(url: string, response: Response) {
          store.set(url, new Uint8Array(await response.arrayBuffer()));
        },
      };
    },
  };
}

const file = writeSafetensors({ w: { data: [1, 2, 3] } });
const hubUrl = 'https://hub.example';
const spec = { repoId: 'acme/enc', revision: 'v1', filename: 'model.safetensors' };
const url = 'https://hub.example/acme/enc/resolve/v1/model.safetensors';

/** A browser-like fetch: under redirect 'manual' it answers an opaque redirect, else follows to the CDN. */
function browserFetch(calls: Array<{ url: string; redirect?: RequestRedirect }>): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const target = String(input);
    calls.push({ url: target, redirect: init?.redirect });
    if (target !== url) return new Response('missing', { status: 404 });
    if (init?.redirect === 'manual') return { type: 'opaqueredirect', status: 0, ok: false, headers: new Headers(), body: null } as unknown as Response;
    return new Response(file as Uint8Array<ArrayBuffer>, { headers: { 'content-length': String(file.length) } });
  }) as typeof fetch;
}

afterEach(() => {
  delete (globalThis as { caches?: unknown }).caches;
});

describe('weights in a browser (no file access)', () => {
  it('has no cache folder, and says that local paths need Node', async () => {
    expect(weightsCacheDir()).toBeNull();
    expect(pretrainedFileCachePath(spec)).toBeNull();
    await expect(fetchWeights('weights/model.safetensors')).rejects.toThrow(
      'Cannot read weights file "weights/model.safetensors": local paths can only be read in Node (import the package\'s Node entry). In a browser pass a URL, the bytes, or a File / Blob.',
    );
    await expect(readSmpCheckpoint('./checkpoint')).rejects.toThrow(/cannot read the directory "\.\/checkpoint": local paths can only be read in Node/);
  });

  it('uses the Cache API: one download, then served from the cache', async () => {
    const caches = fakeCaches();
    (globalThis as { caches?: unknown }).caches = caches;
    const calls: Array<{ url: string; redirect?: RequestRedirect }> = [];
    const options = { hubUrl, fetch: browserFetch(calls) };
    const first = await fetchPretrainedFile(spec, options);
    expect([...first]).toEqual([...file]);
    // The opaque redirect made the loader follow redirects instead.
    expect(calls).toEqual([{ url, redirect: 'manual' }, { url, redirect: 'follow' }]);
    expect([...caches.stores.get('segmentation-models-tfjs-weights')!.keys()]).toEqual([url]);
    const second = await fetchPretrainedFile(spec, options);
    expect([...second]).toEqual([...file]);
    expect(calls).toHaveLength(2);
  });

  it('without a Cache API it downloads every time; a failed download names the URL and suggests bytes', async () => {
    const calls: Array<{ url: string; redirect?: RequestRedirect }> = [];
    await fetchPretrainedFile(spec, { hubUrl, fetch: browserFetch(calls) });
    await fetchPretrainedFile(spec, { hubUrl, fetch: browserFetch(calls) });
    expect(calls.filter((c) => c.redirect === 'follow')).toHaveLength(2);
    const failing = (async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    await expect(fetchPretrainedFile(spec, { hubUrl, fetch: failing })).rejects.toThrow(
      `Cannot download ${url}: Failed to fetch. Without network access, pass a local path, a file:// URL or the file's bytes (e.g. a File from an <input>) instead.`,
    );
  });
});
