/**
 * Fetching and caching weight files (browser-safe; local paths and the disk cache need the Node
 * entry, which registers file access on import).
 *
 * - `fetchPretrainedFile({ repoId, revision, filename })` downloads
 *   `{hubUrl}/{repoId}/resolve/{revision}/{filename}` (hubUrl: option, else `$SMTF_HUB_URL`, else
 *   https://huggingface.co) once and serves it from the cache afterwards.
 * - `fetchWeights(source)` takes a URL, a local path or `file://` URL (Node), or bytes / a Blob.
 *
 * Cache: in Node a folder (option `cacheDir`, else `$SMTF_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/segmentation-models-tfjs`, else `~/.cache/segmentation-models-tfjs`), files
 * written atomically (temporary file + rename) and only after they passed every check; a Hub file
 * lives at `<cache>/hub/<owner>--<name>/<revision>/<filename>`. In a browser the Cache API when
 * present, else no cache.
 *
 * Checks: the SHA-256 in the Hub's `X-Linked-Etag` header (sent for large, LFS-stored files on
 * the first response, the redirect to the CDN: in Node redirects are followed by hand so that
 * header can be read; browsers hide redirect responses, so there it is used only when the final
 * response carries it), a `sha256` option, and a `validate` hook. A file that fails any check is
 * neither cached nor returned.
 */
import { isNotFound, localFileAccess, type LocalFileAccess, type ProgressStream } from './localFiles.js';
import { sha256Hex } from './sha256.js';
import { blobByteSource, bytesByteSource, type ByteSource } from './safetensors.js';

/** The Hugging Face Hub, where pretrained encoder weights are fetched from by default. */
export const DEFAULT_HUB_URL = 'https://huggingface.co';
/** Environment variable that overrides {@link DEFAULT_HUB_URL} (a mirror or a local server). */
export const HUB_URL_ENV = 'SMTF_HUB_URL';
/** Environment variable that sets the weights cache folder (Node). */
export const CACHE_DIR_ENV = 'SMTF_CACHE_DIR';
const CACHE_FOLDER = 'segmentation-models-tfjs';
const BROWSER_CACHE_NAME = 'segmentation-models-tfjs-weights';
const MAX_REDIRECTS = 10;
const PROGRESS_INTERVAL_MS = 200;

/** Progress of a weights download, passed to the `onProgress` callback. */
export interface DownloadProgress {
  url: string;
  /** Bytes received so far. */
  loaded: number;
  /** Total bytes (from Content-Length), or null when unknown. */
  total: number | null;
}

/** A source of weight bytes: URL, local path or `file://` URL (Node), bytes, or a Blob / File. */
export type WeightsSource = string | URL | Uint8Array | ArrayBuffer | Blob;

/** Options of {@link fetchWeights}: cache, progress and checksum. */
export interface FetchWeightsOptions {
  /** Cache folder (Node). Default: `$SMTF_CACHE_DIR`, `$XDG_CACHE_HOME/segmentation-models-tfjs`, `~/.cache/segmentation-models-tfjs`. */
  cacheDir?: string;
  /**
   * Use the cache. Default: true for fetchPretrainedFile, false for a plain URL passed to
   * fetchWeights (a URL may name a moving branch); true caches it under `<cache>/urls/`.
   */
  cache?: boolean;
  /** Expected SHA-256 (hex) of the file, checked in addition to the Hub's `X-Linked-Etag`. */
  sha256?: string;
  /** Called with the bytes before they are returned or cached; throw to reject the file. */
  validate?: (bytes: Uint8Array, source: string) => void | Promise<void>;
  /** Called as bytes arrive. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Draw a progress line on the terminal (only when it is a TTY). Default true. */
  progress?: boolean;
  /** Where the progress line goes. Default: process.stderr in Node, none in a browser. */
  progressStream?: ProgressStream;
  /** Request headers, sent to the original host only (not to redirect targets on other hosts). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** The fetch implementation (default globalThis.fetch). */
  fetch?: typeof fetch;
}

/** Where a pretrained weights file lives on the Hub: repository, revision, file and checksum. */
export interface PretrainedFileSpec {
  /** Hub repository, `owner/name`. */
  repoId: string;
  /** Branch, tag or commit. Default 'main'; pin a commit for reproducible downloads. */
  revision?: string;
  /** File path inside the repository. */
  filename: string;
}

/** Options of {@link fetchPretrainedFile}. */
export interface PretrainedFileOptions extends FetchWeightsOptions {
  /** Hub base URL. Default: `$SMTF_HUB_URL`, else https://huggingface.co. */
  hubUrl?: string;
}

// ---------------------------------------------------------------------------------------------
// Locations

/** The cache folder this process uses (Node), or null in a browser (Cache API or no cache). */
export function weightsCacheDir(options: { cacheDir?: string } = {}): string | null {
  const files = localFileAccess();
  if (files === null) return null;
  if (options.cacheDir !== undefined) return files.resolve(options.cacheDir);
  const fromEnv = files.env(CACHE_DIR_ENV);
  if (fromEnv) return files.resolve(fromEnv);
  const xdg = files.env('XDG_CACHE_HOME');
  if (xdg) return files.join(files.resolve(xdg), CACHE_FOLDER);
  return files.join(files.homeDir(), '.cache', CACHE_FOLDER);
}

interface HubLocation {
  url: string;
  /** Path segments under the cache folder. */
  cacheKey: string[];
}

const REPO_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function hubLocation(spec: PretrainedFileSpec, hubUrl: string): HubLocation {
  if (spec === null || typeof spec !== 'object') throw new Error('fetchPretrainedFile: expected { repoId, revision?, filename }.');
  const { repoId, filename } = spec;
  const revision = spec.revision ?? 'main';
  const parts = typeof repoId === 'string' ? repoId.split('/') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => REPO_PART.test(p) && !p.includes('..'))) {
    throw new Error(`fetchPretrainedFile: repoId must look like "owner/name", got ${JSON.stringify(repoId)}.`);
  }
  if (typeof revision !== 'string' || revision === '' || revision === '.' || revision === '..' || revision.includes('\0')) {
    throw new Error(`fetchPretrainedFile: revision must be a branch, tag or commit, got ${JSON.stringify(revision)}.`);
  }
  const segments = typeof filename === 'string' ? filename.split('/') : [];
  if (segments.length === 0 || !segments.every((s) => s !== '' && s !== '.' && s !== '..' && !/[\\\0]/.test(s))) {
    throw new Error(`fetchPretrainedFile: filename must be a relative path inside the repository, got ${JSON.stringify(filename)}.`);
  }
  const base = hubUrl.replace(/\/+$/, '');
  return {
    url: `${base}/${parts.join('/')}/resolve/${encodeURIComponent(revision)}/${segments.map(encodeURIComponent).join('/')}`,
    cacheKey: ['hub', parts.join('--'), encodeURIComponent(revision), ...segments],
  };
}

function hubUrlOf(options: PretrainedFileOptions): string {
  return options.hubUrl ?? localFileAccess()?.env(HUB_URL_ENV) ?? DEFAULT_HUB_URL;
}

/** The URL a Hub file is downloaded from. */
export function pretrainedFileUrl(spec: PretrainedFileSpec, options: Pick<PretrainedFileOptions, 'hubUrl'> = {}): string {
  return hubLocation(spec, hubUrlOf(options)).url;
}

/**
 * Where a Hub file is (or would be) cached in Node: put the file there by hand to use it offline.
 * Null in a browser.
 */
export function pretrainedFileCachePath(spec: PretrainedFileSpec, options: Pick<PretrainedFileOptions, 'cacheDir' | 'hubUrl'> = {}): string | null {
  const dir = weightsCacheDir(options);
  const files = localFileAccess();
  if (dir === null || files === null) return null;
  return files.join(dir, ...hubLocation(spec, hubUrlOf(options)).cacheKey);
}

// ---------------------------------------------------------------------------------------------
// Progress

/** The last path segment of a URL, decoded ('' when there is none). */
function urlFileName(url: string): string {
  const last = new URL(url).pathname.split('/').pop() ?? '';
  try {
    return decodeURIComponent(last);
  } catch {
    return last; // a malformed %-escape: keep it as it is
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** One throttled terminal line (TTY only) plus the callback; `done` clears the line. */
function progressReporter(url: string, options: FetchWeightsOptions, files: LocalFileAccess | null) {
  const stream = options.progress === false ? null : options.progressStream ?? files?.progressStream() ?? null;
  const tty = stream !== null && stream.isTTY === true ? stream : null;
  const name = urlFileName(url) || url;
  let lastDraw = -Infinity;
  let drawn = false;
  return {
    update(loaded: number, total: number | null, final = false): void {
      options.onProgress?.({ url, loaded, total });
      if (tty === null) return;
      const now = Date.now();
      if (!final && now - lastDraw < PROGRESS_INTERVAL_MS) return;
      lastDraw = now;
      const amount = total !== null
        ? `${formatBytes(loaded)} / ${formatBytes(total)} (${Math.floor((100 * loaded) / Math.max(total, 1))}%)`
        : formatBytes(loaded);
      let line = `Downloading ${name}: ${amount}`;
      if (tty.columns !== undefined && tty.columns > 1) line = line.slice(0, tty.columns - 1);
      tty.write(`\r\x1b[K${line}`);
      drawn = true;
    },
    done(): void {
      if (tty !== null && drawn) tty.write('\r\x1b[K');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Download

function parseLinkedEtag(value: string | null): string | null {
  const m = value === null ? null : /^(?:W\/)?"?([0-9a-fA-F]{64})"?$/.exec(value.trim());
  return m ? m[1]!.toLowerCase() : null;
}

function offlineHint(cachePath: string | null): string {
  return cachePath !== null
    ? `Without network access, download the file on another machine and put it at ${cachePath} (it is then used from there), or pass a local path to the file instead.`
    : 'Without network access, pass a local path, a file:// URL or the file\'s bytes (e.g. a File from an <input>) instead.';
}

function httpError(url: string, response: Response, cachePath: string | null): Error {
  const hint = response.status === 401 || response.status === 403
    ? ' The repository may be private or gated: pass headers: { Authorization: \'Bearer <token>\' }.'
    : response.status === 404
      ? ' Check the repository id, the revision and the file name.'
      : response.status >= 500 ? ` The server failed; try again later. ${offlineHint(cachePath)}` : '';
  return new Error(`Cannot download ${url}: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}.${hint}`);
}

function describeFetchFailure(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const cause = err?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  return cause?.message ?? err?.message ?? String(e);
}

interface Downloaded {
  bytes: Uint8Array;
  /** The SHA-256 the server announced in X-Linked-Etag, if any. */
  linkedSha256: string | null;
}

async function readBody(url: string, response: Response, reporter: ReturnType<typeof progressReporter>): Promise<Uint8Array> {
  const encoded = (response.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const lengthHeader = Number(response.headers.get('content-length'));
  const total = Number.isSafeInteger(lengthHeader) && lengthHeader >= 0 && !encoded ? lengthHeader : null;
  if (response.body === null) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    reporter.update(bytes.length, total, true);
    return bytes;
  }
  const reader = response.body.getReader();
  // Received straight into one buffer when the size is known; chunks otherwise.
  let buffer: Uint8Array | null = total !== null ? new Uint8Array(total) : null;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') throw e;
      throw new Error(`Cannot download ${url}: the connection failed after ${loaded}${total !== null ? ` of ${total}` : ''} bytes: ${describeFetchFailure(e)}.`);
    }
    const { done, value } = chunk;
    if (done) break;
    if (buffer !== null && loaded + value.length > buffer.length) {
      throw new Error(`Cannot download ${url}: the server sent more than the ${total} bytes it announced.`);
    }
    if (buffer !== null) buffer.set(value, loaded);
    else chunks.push(value);
    loaded += value.length;
    reporter.update(loaded, total);
  }
  reporter.update(loaded, total, true);
  if (total !== null && loaded !== total) {
    throw new Error(`Cannot download ${url}: the connection closed after ${loaded} of ${total} bytes.`);
  }
  if (buffer === null) {
    buffer = new Uint8Array(loaded);
    let at = 0;
    for (const c of chunks) {
      buffer.set(c, at);
      at += c.length;
    }
  }
  return buffer;
}

const IS_NODE = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

async function download(url: string, options: FetchWeightsOptions, cachePath: string | null): Promise<Downloaded> {
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') throw new Error(`Cannot download ${url}: no fetch() in this environment. ${offlineHint(cachePath)}`);
  const origin = new URL(url).origin;
  // Node's fetch shows redirect responses under redirect: 'manual', so the Hub's X-Linked-Etag
  // (on the redirect to the CDN) can be read; browsers hide them, so there redirects are followed.
  let manual = IS_NODE;
  let current = url;
  let linkedSha256: string | null = null;
  let response: Response;
  for (let hop = 0; ; hop++) {
    const headers = new URL(current).origin === origin ? options.headers : undefined;
    try {
      response = await doFetch(current, { headers, signal: options.signal, redirect: manual ? 'manual' : 'follow' });
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') throw e;
      throw new Error(`Cannot download ${current === url ? url : `${url} (redirected to ${current})`}: ${describeFetchFailure(e)}. ${offlineHint(cachePath)}`);
    }
    linkedSha256 ??= parseLinkedEtag(response.headers.get('x-linked-etag'));
    if (response.type === 'opaqueredirect') {
      manual = false; // a fetch that hides redirects after all: let it follow them
      continue;
    }
    const location = response.headers.get('location');
    if (!manual || response.status < 300 || response.status >= 400 || location === null) break;
    await response.body?.cancel();
    if (hop >= MAX_REDIRECTS) throw new Error(`Cannot download ${url}: more than ${MAX_REDIRECTS} redirects.`);
    current = new URL(location, current).href;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw httpError(url, response, cachePath);
  }
  const reporter = progressReporter(url, options, localFileAccess());
  try {
    return { bytes: await readBody(url, response, reporter), linkedSha256 };
  } finally {
    reporter.done();
  }
}

async function checkHashes(bytes: Uint8Array, where: string, expected: Array<[string | null | undefined, string]>): Promise<void> {
  const wanted = expected.filter((e): e is [string, string] => typeof e[0] === 'string');
  if (wanted.length === 0) return;
  const actual = await sha256Hex(bytes);
  for (const [hash, from] of wanted) {
    if (hash.toLowerCase() !== actual) {
      throw new Error(`Checksum mismatch for ${where}: expected SHA-256 ${hash.toLowerCase()} (${from}), got ${actual}. The file is corrupt or not the one expected; it was not cached.`);
    }
  }
}

async function runValidator(bytes: Uint8Array, source: string, options: FetchWeightsOptions, cached: string | null): Promise<void> {
  if (options.validate === undefined) return;
  try {
    await options.validate(bytes, source);
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    throw new Error(cached !== null
      ? `The cached file ${cached} failed validation: ${msg} Delete it to download it again.`
      : `${source} failed validation: ${msg}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Cache

interface CacheSlot {
  /** The cache file path (Node), or null. */
  path: string | null;
  read(): Promise<Uint8Array | null>;
  write(bytes: Uint8Array): Promise<void>;
}

type CacheStorageLike = { open(name: string): Promise<Cache> };

function browserCaches(): CacheStorageLike | null {
  const c = (globalThis as { caches?: CacheStorageLike }).caches;
  return c !== undefined && typeof c.open === 'function' ? c : null;
}

function cacheSlot(url: string, key: string[], options: FetchWeightsOptions): CacheSlot | null {
  const files = localFileAccess();
  const dir = weightsCacheDir(options);
  if (files !== null && dir !== null) {
    const path = files.join(dir, ...key);
    return {
      path,
      async read() {
        try {
          return await files.readFile(path);
        } catch (e) {
          if (isNotFound(e)) return null;
          throw new Error(`Cannot read the cached file ${path}: ${(e as Error).message}`);
        }
      },
      async write(bytes) {
        try {
          await files.writeFileAtomic(path, bytes);
        } catch (e) {
          throw new Error(`Downloaded ${url} but cannot write the cache file ${path}: ${(e as Error).message}. Pass cacheDir (or set ${CACHE_DIR_ENV}) to a writable folder, or cache: false.`);
        }
      },
    };
  }
  const caches = browserCaches();
  if (caches === null) return null;
  return {
    path: null,
    async read() {
      const hit = await (await caches.open(BROWSER_CACHE_NAME)).match(url);
      return hit ? new Uint8Array(await hit.arrayBuffer()) : null;
    },
    async write(bytes) {
      try {
        const headers = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) };
        await (await caches.open(BROWSER_CACHE_NAME)).put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
      } catch {
        // A full or unavailable browser cache only costs a download next time.
      }
    },
  };
}

async function fetchWithCache(url: string, key: string[], useCache: boolean, options: FetchWeightsOptions): Promise<Uint8Array> {
  const slot = useCache ? cacheSlot(url, key, options) : null;
  if (slot !== null) {
    const cached = await slot.read();
    if (cached !== null) {
      const where = slot.path ?? `the browser cache entry for ${url}`;
      await checkHashes(cached, where, [[options.sha256, 'the sha256 option']]);
      await runValidator(cached, where, options, where);
      return cached;
    }
  }
  const { bytes, linkedSha256 } = await download(url, options, slot?.path ?? null);
  await checkHashes(bytes, url, [[linkedSha256, 'X-Linked-Etag sent by the server'], [options.sha256, 'the sha256 option']]);
  await runValidator(bytes, url, options, null);
  if (slot !== null) await slot.write(bytes);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Public functions

/**
 * Downloads a file from the Hugging Face Hub (or `hubUrl` / `$SMTF_HUB_URL`), or takes it from
 * the cache. See the module comment for the cache and the checks.
 */
export async function fetchPretrainedFile(spec: PretrainedFileSpec, options: PretrainedFileOptions = {}): Promise<Uint8Array> {
  const { url, cacheKey } = hubLocation(spec, hubUrlOf(options));
  return fetchWithCache(url, cacheKey, options.cache ?? true, options);
}

function urlCacheKey(url: string, hash: string): string[] {
  const last = urlFileName(url);
  const name = last !== '' && last !== '.' && last !== '..' && !/[\\/\0]/.test(last) ? last : 'file';
  return ['urls', hash.slice(0, 16), name];
}

function isBlob(x: unknown): x is Blob {
  return typeof Blob !== 'undefined' && x instanceof Blob;
}

/**
 * Weight bytes from any source: an http(s) URL (cached only with `cache: true`), a local path or
 * `file://` URL (Node), a `blob:` / `data:` URL, bytes, or a Blob / File. Runs the `sha256` and
 * `validate` checks on every source.
 */
export async function fetchWeights(source: WeightsSource, options: FetchWeightsOptions = {}): Promise<Uint8Array> {
  let bytes: Uint8Array;
  let where: string;
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    bytes = source instanceof Uint8Array ? source : new Uint8Array(source);
    where = 'the given bytes';
  } else if (isBlob(source)) {
    bytes = new Uint8Array(await source.arrayBuffer());
    where = `the given ${typeof File !== 'undefined' && source instanceof File ? `file ${JSON.stringify(source.name)}` : 'Blob'}`;
  } else if (typeof source === 'string' || source instanceof URL) {
    const text = source instanceof URL ? source.href : source;
    if (/^https?:\/\//i.test(text)) {
      const url = new URL(text).href;
      return fetchWithCache(url, urlCacheKey(url, await sha256Hex(new TextEncoder().encode(url))), options.cache ?? false, options);
    }
    if (/^(blob|data):/i.test(text)) {
      ({ bytes } = await download(text, { ...options, progress: false }, null));
      where = text.slice(0, 64);
    } else {
      ({ bytes, where } = await readLocal(text, 'weights file'));
    }
  } else {
    throw new Error(`fetchWeights: expected a URL, a path, bytes or a Blob, got ${source === null ? 'null' : typeof source}.`);
  }
  await checkHashes(bytes, where, [[options.sha256, 'the sha256 option']]);
  await runValidator(bytes, where, options, null);
  return bytes;
}

/** Opens or reads a local path or file:// URL (Node only), with errors that say which file and what it is. */
async function withLocalFile<T>(pathOrFileUrl: string, what: string, use: (files: LocalFileAccess, path: string) => Promise<T>): Promise<{ result: T; where: string }> {
  const files = localFileAccess();
  if (files === null) {
    throw new Error(`Cannot read ${what} ${JSON.stringify(pathOrFileUrl)}: local paths can only be read in Node (import the package's Node entry). In a browser pass a URL, the bytes, or a File / Blob.`);
  }
  let path: string;
  try {
    path = files.resolve(/^file:/i.test(pathOrFileUrl) ? files.fileUrlToPath(pathOrFileUrl) : pathOrFileUrl);
  } catch (e) {
    throw new Error(`Cannot read ${what} ${JSON.stringify(pathOrFileUrl)}: ${(e as Error).message}`);
  }
  try {
    return { result: await use(files, path), where: path };
  } catch (e) {
    if (isNotFound(e)) throw new Error(`${what[0]!.toUpperCase()}${what.slice(1)} not found: ${path}`);
    throw new Error(`Cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** Reads a local path or file:// URL (Node only), with errors that say which file and what it is. */
export async function readLocal(pathOrFileUrl: string, what: string): Promise<{ bytes: Uint8Array; where: string }> {
  const { result, where } = await withLocalFile(pathOrFileUrl, what, (files, path) => files.readFile(path));
  return { bytes: result, where };
}

/**
 * Opens a weights source for reading piece by piece ({@link ByteSource}): a local path or file://
 * URL (Node) and a Blob / File are read range by range, never whole; bytes are used in place.
 * Sources that must be whole to be checked or fetched (a `sha256` or `validate` option, an
 * http(s), blob: or data: URL) go through {@link fetchWeights} first.
 */
export async function openWeights(source: WeightsSource, options: FetchWeightsOptions = {}): Promise<ByteSource> {
  const checked = options.sha256 !== undefined || options.validate !== undefined;
  if (!checked && (typeof source === 'string' || source instanceof URL)) {
    const text = source instanceof URL ? source.href : source;
    if (!/^(https?|blob|data):/i.test(text)) return (await withLocalFile(text, 'weights file', (files, path) => files.openFile(path))).result;
  }
  if (!checked && isBlob(source)) return blobByteSource(source);
  return bytesByteSource(await fetchWeights(source, options));
}
