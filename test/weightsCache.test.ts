import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  fetchPretrainedFile,
  fetchWeights,
  pretrainedFileCachePath,
  pretrainedFileUrl,
  readSafetensorsHeader,
  weightsCacheDir,
  writeSafetensors,
  type DownloadProgress,
} from '../src/node.js';
import { sha256Hex, sha256HexSync } from '../src/io/sha256.js';
import { refusedUrl, startServer, type TestServer } from './httpServer.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const ENV_KEYS = ['SMTF_CACHE_DIR', 'SMTF_HUB_URL', 'XDG_CACHE_HOME', 'HOME'] as const;

let root: string;
let cacheDir: string;
let server: TestServer;
const savedEnv: Record<string, string | undefined> = {};
const payload = new Uint8Array(randomBytes(300_000));
const spec = { repoId: 'acme/encoder', revision: 'abc123', filename: 'model.safetensors' };
const resolvePath = '/acme/encoder/resolve/abc123/model.safetensors';

/** All files under a folder (empty when it does not exist). */
async function listFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name));
  } catch {
    return [];
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'smtf-weights-'));
  for (const k of ENV_KEYS) savedEnv[k] = process.env[k];
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});
beforeEach(async () => {
  // Every test gets its own cache folder through the environment: the real one is never touched.
  cacheDir = await mkdtemp(join(root, 'cache-'));
  process.env.SMTF_CACHE_DIR = cacheDir;
  delete process.env.SMTF_HUB_URL;
  server = await startServer();
});
afterEach(async () => {
  await server.close();
});

describe('fetchPretrainedFile', () => {
  it('downloads with progress, caches atomically, and serves the second call from the cache', async () => {
    server.routes.set(resolvePath, { body: payload, chunks: 7 });
    const events: DownloadProgress[] = [];
    const bytes = await fetchPretrainedFile(spec, { hubUrl: server.url, onProgress: (p) => events.push({ ...p }) });
    expect(sha256(bytes)).toBe(sha256(payload));
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.every((e) => e.total === payload.length && e.url === `${server.url}${resolvePath}`)).toBe(true);
    expect(events.at(-1)!.loaded).toBe(payload.length);
    for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThanOrEqual(events[i - 1]!.loaded);

    const cached = join(cacheDir, 'hub', 'acme--encoder', 'abc123', 'model.safetensors');
    expect(pretrainedFileCachePath(spec)).toBe(cached);
    expect(await listFiles(cacheDir)).toEqual([cached]); // no temporary file left behind
    expect(sha256(await readFile(cached))).toBe(sha256(payload));

    const again = await fetchPretrainedFile(spec, { hubUrl: server.url });
    expect(sha256(again)).toBe(sha256(payload));
    expect(server.requests.map((r) => r.path)).toEqual([resolvePath]);
  });

  it('draws one throttled progress line on a TTY and clears it; nothing on a non-TTY stream', async () => {
    server.routes.set(resolvePath, { body: payload, chunks: 4 });
    const tty: string[] = [];
    await fetchPretrainedFile(spec, { hubUrl: server.url, cache: false, progressStream: { isTTY: true, columns: 200, write: (s) => tty.push(s) } });
    expect(tty.length).toBeGreaterThanOrEqual(2);
    expect(tty[0]).toMatch(/^\r\x1b\[KDownloading model\.safetensors: .* \/ 293\.0 kB \(\d+%\)$/);
    expect(tty.at(-2)).toBe('\r\x1b[KDownloading model.safetensors: 293.0 kB / 293.0 kB (100%)');
    expect(tty.at(-1)).toBe('\r\x1b[K');
    expect(tty.join('')).not.toContain('\n');

    const plain: string[] = [];
    await fetchPretrainedFile(spec, { hubUrl: server.url, cache: false, progressStream: { isTTY: false, write: (s) => plain.push(s) } });
    expect(plain).toEqual([]);
    const off: string[] = [];
    await fetchPretrainedFile(spec, { hubUrl: server.url, cache: false, progress: false, progressStream: { isTTY: true, write: (s) => off.push(s) } });
    expect(off).toEqual([]);
  });

  it('follows the Hub redirect to a CDN, reading X-Linked-Etag from the first response; headers stay on the first host', async () => {
    const cdn = await startServer({ '/blobs/xyz': { body: payload } });
    try {
      server.routes.set(resolvePath, {
        status: 302,
        headers: { Location: `${cdn.url}/blobs/xyz`, 'X-Linked-Etag': `"${sha256(payload)}"` },
      });
      const bytes = await fetchPretrainedFile(spec, { hubUrl: server.url, headers: { Authorization: 'Bearer secret' } });
      expect(sha256(bytes)).toBe(sha256(payload));
      expect(server.requests.map((r) => r.path)).toEqual([resolvePath]);
      expect(server.requests[0]!.headers.authorization).toBe('Bearer secret');
      expect(cdn.requests.map((r) => r.path)).toEqual(['/blobs/xyz']);
      expect(cdn.requests[0]!.headers.authorization).toBeUndefined();
    } finally {
      await cdn.close();
    }
  });

  it('rejects a download whose SHA-256 differs from X-Linked-Etag (even when only the redirect carries it) and caches nothing', async () => {
    const wrong = 'ab'.repeat(32);
    server.routes.set(resolvePath, { status: 307, headers: { Location: '/cdn/file', 'X-Linked-Etag': `"${wrong}"` } });
    server.routes.set('/cdn/file', { body: payload });
    await expect(fetchPretrainedFile(spec, { hubUrl: server.url })).rejects.toThrow(
      `Checksum mismatch for ${server.url}${resolvePath}: expected SHA-256 ${wrong} (X-Linked-Etag sent by the server), got ${sha256(payload)}`,
    );
    expect(await listFiles(cacheDir)).toEqual([]);
    // The same with the etag on a direct response, and with the sha256 option.
    server.routes.set(resolvePath, { body: payload, headers: { 'X-Linked-Etag': wrong } });
    await expect(fetchPretrainedFile(spec, { hubUrl: server.url })).rejects.toThrow(/Checksum mismatch/);
    server.routes.set(resolvePath, { body: payload });
    await expect(fetchPretrainedFile(spec, { hubUrl: server.url, sha256: wrong })).rejects.toThrow(/expected SHA-256 abab.* \(the sha256 option\)/);
    expect(await listFiles(cacheDir)).toEqual([]);
  });

  it('accepts a matching X-Linked-Etag; ignores one that is not a SHA-256 (a git blob id)', async () => {
    server.routes.set(resolvePath, { body: payload, headers: { 'X-Linked-Etag': `"${sha256(payload).toUpperCase()}"` } });
    expect((await fetchPretrainedFile(spec, { hubUrl: server.url, cache: false })).length).toBe(payload.length);
    server.routes.set(resolvePath, { body: payload, headers: { 'X-Linked-Etag': '"0123456789abcdef0123456789abcdef01234567"' } });
    expect((await fetchPretrainedFile(spec, { hubUrl: server.url, cache: false })).length).toBe(payload.length);
  });

  it('runs the validate hook before caching: a rejected file is not cached', async () => {
    server.routes.set(resolvePath, { body: payload });
    const seen: number[] = [];
    await expect(fetchPretrainedFile(spec, {
      hubUrl: server.url,
      validate: (b) => {
        seen.push(b.length);
        throw new Error('expected 12 encoder tensors, found 0.');
      },
    })).rejects.toThrow(`${server.url}${resolvePath} failed validation: expected 12 encoder tensors, found 0.`);
    expect(seen).toEqual([payload.length]);
    expect(await listFiles(cacheDir)).toEqual([]);
  });

  it('a cached file that fails validation is reported with its path and kept', async () => {
    const path = pretrainedFileCachePath(spec)!;
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, 'not safetensors');
    await expect(fetchPretrainedFile(spec, { hubUrl: server.url, validate: (b) => void readSafetensorsHeader(b) }))
      .rejects.toThrow(`The cached file ${path} failed validation: safetensors: header length 7306634592548843374 bytes exceeds the limit of 100000000 bytes; the file is corrupt or not a safetensors file. Delete it to download it again.`);
    expect(await readFile(path, 'utf8')).toBe('not safetensors');
    expect(server.requests).toEqual([]);
  });

  it('uses a pre-seeded cache file without any network', async () => {
    const offline = await refusedUrl();
    const file = writeSafetensors({ w: { data: [1, 2] } });
    const path = pretrainedFileCachePath(spec, { hubUrl: offline })!;
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, file);
    const bytes = await fetchPretrainedFile(spec, { hubUrl: offline, validate: (b) => void readSafetensorsHeader(b) });
    expect(sha256(bytes)).toBe(sha256(file));
  });

  it('HTTP errors name the status and the URL, and cache nothing', async () => {
    await expect(fetchPretrainedFile(spec, { hubUrl: server.url })).rejects.toThrow(
      `Cannot download ${server.url}${resolvePath}: HTTP 404 Not Found. Check the repository id, the revision and the file name.`,
    );
    server.routes.set(resolvePath, { status: 401, body: 'no' });
    await expect(fetchPretrainedFile(spec, { hubUrl: server.url })).rejects.toThrow(/HTTP 401 Unauthorized\. The repository may be private or gated/);
    expect(await listFiles(cacheDir)).toEqual([]);
  });

  it('without network, says which URL failed and where to put the file by hand', async () => {
    const offline = await refusedUrl();
    const where = join(cacheDir, 'hub', 'acme--encoder', 'abc123', 'model.safetensors');
    const error = await fetchPretrainedFile(spec, { hubUrl: offline }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      `Cannot download ${offline}${resolvePath}: ECONNREFUSED (connect ECONNREFUSED ${offline.slice(7)}). ` +
        `Without network access, download the file on another machine and put it at ${where} (it is then used from there), or pass a local path to the file instead.`,
    );
  });

  it('a connection dropped mid-file and a redirect loop are errors', async () => {
    server.routes.set(resolvePath, { body: payload, truncateAt: 1000 });
    await expect(fetchPretrainedFile(spec, { hubUrl: server.url })).rejects.toThrow(
      new RegExp(`Cannot download ${server.url}${resolvePath}: the connection failed after \\d+ of 300000 bytes`),
    );
    server.routes.set(resolvePath, { status: 302, headers: { Location: resolvePath } });
    await expect(fetchPretrainedFile(spec, { hubUrl: server.url })).rejects.toThrow(/more than 10 redirects/);
    expect(await listFiles(cacheDir)).toEqual([]);
  });

  it('cache folder: option over $SMTF_CACHE_DIR over $XDG_CACHE_HOME over ~/.cache', async () => {
    server.routes.set(resolvePath, { body: payload });
    const viaOption = join(root, 'option-cache');
    await fetchPretrainedFile(spec, { hubUrl: server.url, cacheDir: viaOption });
    expect(await listFiles(viaOption)).toEqual([join(viaOption, 'hub', 'acme--encoder', 'abc123', 'model.safetensors')]);
    expect(await listFiles(cacheDir)).toEqual([]);
    await fetchPretrainedFile(spec, { hubUrl: server.url });
    expect(await listFiles(cacheDir)).toHaveLength(1);
    expect(server.requests).toHaveLength(2);

    expect(weightsCacheDir()).toBe(cacheDir);
    expect(weightsCacheDir({ cacheDir: 'rel/dir' })).toBe(join(process.cwd(), 'rel/dir'));
    delete process.env.SMTF_CACHE_DIR;
    process.env.XDG_CACHE_HOME = join(root, 'xdg');
    expect(weightsCacheDir()).toBe(join(root, 'xdg', 'segmentation-models-tfjs'));
    delete process.env.XDG_CACHE_HOME;
    process.env.HOME = join(root, 'home');
    expect(weightsCacheDir()).toBe(join(root, 'home', '.cache', 'segmentation-models-tfjs'));
  });

  it('hub URL: option over $SMTF_HUB_URL over huggingface.co; revisions and file paths are encoded', () => {
    expect(pretrainedFileUrl(spec)).toBe('https://huggingface.co/acme/encoder/resolve/abc123/model.safetensors');
    process.env.SMTF_HUB_URL = 'http://127.0.0.1:9/mirror/';
    expect(pretrainedFileUrl(spec)).toBe('http://127.0.0.1:9/mirror/acme/encoder/resolve/abc123/model.safetensors');
    expect(pretrainedFileUrl(spec, { hubUrl: 'http://other' })).toBe('http://other/acme/encoder/resolve/abc123/model.safetensors');
    expect(pretrainedFileUrl({ repoId: 'a/b', revision: 'refs/pr/1', filename: 'sub dir/w.safetensors' }))
      .toBe('http://127.0.0.1:9/mirror/a/b/resolve/refs%2Fpr%2F1/sub%20dir/w.safetensors');
    expect(pretrainedFileCachePath({ repoId: 'a/b', revision: 'refs/pr/1', filename: 'sub/w.bin' }))
      .toBe(join(cacheDir, 'hub', 'a--b', 'refs%2Fpr%2F1', 'sub', 'w.bin'));
    expect(pretrainedFileUrl({ repoId: 'gpt2', filename: 'x' })).toBe('http://127.0.0.1:9/mirror/gpt2/resolve/main/x');
  });

  it('rejects repo ids, revisions and file names that could leave the cache folder', () => {
    expect(() => pretrainedFileUrl({ repoId: '../etc', filename: 'x' })).toThrow(/repoId must look like "owner\/name", got "..\/etc"/);
    expect(() => pretrainedFileUrl({ repoId: 'a/b/c', filename: 'x' })).toThrow(/repoId must look like/);
    expect(() => pretrainedFileUrl({ repoId: 'a/b', revision: '..', filename: 'x' })).toThrow(/revision must be a branch, tag or commit, got "\.\."/);
    expect(() => pretrainedFileUrl({ repoId: 'a/b', filename: '../../x' })).toThrow(/filename must be a relative path inside the repository/);
    expect(() => pretrainedFileUrl({ repoId: 'a/b', filename: '/abs' })).toThrow(/filename must be a relative path/);
    expect(() => pretrainedFileUrl({ repoId: 'a/b', filename: 'a\\b' })).toThrow(/filename must be a relative path/);
  });
});

describe('fetchWeights', () => {
  it('reads local paths, file:// URLs, bytes and Blobs, with the same checks', async () => {
    const file = join(root, 'local.safetensors');
    await writeFile(file, payload);
    for (const source of [file, pathToFileURL(file).href, pathToFileURL(file), payload, payload.buffer, new Blob([payload])]) {
      expect(sha256(await fetchWeights(source))).toBe(sha256(payload));
    }
    await expect(fetchWeights(file, { sha256: '00'.repeat(32) })).rejects.toThrow(`Checksum mismatch for ${file}: expected SHA-256 ${'00'.repeat(32)} (the sha256 option), got ${sha256(payload)}`);
    await expect(fetchWeights(new Blob([payload]), { validate: () => { throw new Error('bad.'); } })).rejects.toThrow('the given Blob failed validation: bad.');
    await expect(fetchWeights(join(root, 'missing.safetensors'))).rejects.toThrow(`Weights file not found: ${join(root, 'missing.safetensors')}`);
    await expect(fetchWeights(42 as unknown as string)).rejects.toThrow(/expected a URL, a path, bytes or a Blob, got number/);
  });

  it('plain URLs are not cached unless asked; with cache: true they live under urls/', async () => {
    server.routes.set('/w/model.safetensors', { body: payload });
    const url = `${server.url}/w/model.safetensors`;
    await fetchWeights(url);
    await fetchWeights(url);
    expect(server.requests).toHaveLength(2);
    expect(await listFiles(cacheDir)).toEqual([]);
    await fetchWeights(url, { cache: true });
    const again = await fetchWeights(url, { cache: true });
    expect(sha256(again)).toBe(sha256(payload));
    expect(server.requests).toHaveLength(3);
    const files = await listFiles(cacheDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`^${cacheDir}/urls/[0-9a-f]{16}/model\\.safetensors$`));
    // A URL without a file name is cached as "file"; a malformed %-escape is kept as it is.
    server.routes.set('/w/', { body: payload });
    server.routes.set('/w/%E0', { body: payload });
    await fetchWeights(`${server.url}/w/`, { cache: true });
    await fetchWeights(`${server.url}/w/%E0`, { cache: true });
    expect((await listFiles(cacheDir)).map((f) => f.split('/').pop()).sort()).toEqual(['%E0', 'file', 'model.safetensors']);
  });

  it('an unreachable URL without a cache path suggests a local path or bytes', async () => {
    const offline = await refusedUrl();
    await expect(fetchWeights(`${offline}/x.safetensors`)).rejects.toThrow(
      /Cannot download http:\/\/127\.0\.0\.1:\d+\/x\.safetensors: ECONNREFUSED.*pass a local path, a file:\/\/ URL or the file's bytes/,
    );
  });
});

describe('SHA-256', () => {
  it('the pure fallback (for browsers without crypto.subtle) and Web Crypto agree with node:crypto around block boundaries', async () => {
    expect(sha256HexSync(new TextEncoder().encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 65_537]) {
      const b = new Uint8Array(randomBytes(n));
      expect([n, sha256HexSync(b)]).toEqual([n, sha256(b)]);
      expect([n, await sha256Hex(b)]).toEqual([n, sha256(b)]);
    }
  });
});
