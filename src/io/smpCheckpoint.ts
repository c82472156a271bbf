/**
 * Reading what segmentation_models.pytorch's `model.save_pretrained(dir)` writes: `config.json`
 * (the model's constructor arguments plus `_model_class`) and `model.safetensors` (its state
 * dict). Browser-safe; directory paths and `file://` URLs need the Node entry.
 */
import { openSafetensors, type ReadSafetensorsOptions, type SafetensorsHeaderEntry, type SafetensorsReader, type SafetensorsTensor } from './safetensors.js';
import { localFileAccess } from './localFiles.js';
import { fetchWeights, openWeights, readLocal, type FetchWeightsOptions, type WeightsSource } from './weightsCache.js';

/** The config file of SMP's `save_pretrained` folder. */
export const SMP_CONFIG_FILE = 'config.json';
/** The weights file of SMP's `save_pretrained` folder. */
export const SMP_WEIGHTS_FILE = 'model.safetensors';

/** An in-memory checkpoint, e.g. two `File`s dropped on a page. */
export interface SmpCheckpointFiles {
  /** config.json: its text, its bytes, a Blob / File, or the parsed object. */
  config: string | Uint8Array | ArrayBuffer | Blob | Record<string, unknown>;
  /** model.safetensors: bytes, a Blob / File, or a path / URL to read it from. */
  weights: WeightsSource;
}

/**
 * A directory path or `file://` URL (Node), an http(s) base URL under which `config.json` and
 * `model.safetensors` are found (e.g. `https://huggingface.co/<repo>/resolve/<revision>/`), or
 * the two files in memory.
 */
export type SmpCheckpointSource = string | URL | SmpCheckpointFiles;

/** An SMP checkpoint as read by {@link readSmpCheckpoint}: its config and weights. */
export interface SmpCheckpoint {
  /** The parsed config.json. */
  config: Record<string, unknown>;
  /** The state dict, in file order. */
  tensors: Map<string, SafetensorsTensor>;
  /** The safetensors `__metadata__`, or null. */
  metadata: Record<string, string> | null;
  /** Where config and weights were read from. */
  from: { config: string; weights: string };
}

/**
 * An SMP checkpoint opened for loading tensor by tensor (what `loadSmpModel` uses, so that the
 * weights file is never held whole): the parsed config, the checked safetensors header, and a
 * reader for one tensor at a time. Close it when done.
 */
export interface OpenSmpCheckpoint {
  config: Record<string, unknown>;
  /** Header entries of model.safetensors, in file order (no data read yet). */
  entries: SafetensorsHeaderEntry[];
  metadata: Record<string, string> | null;
  from: { config: string; weights: string };
  /** Reads one tensor; errors name model.safetensors and where it was read from. */
  tensor(name: string): Promise<SafetensorsTensor>;
  close(): Promise<void>;
}

/** Options of {@link readSmpCheckpoint}. */
export interface ReadSmpCheckpointOptions extends FetchWeightsOptions {
  /** Options for parsing model.safetensors. */
  safetensors?: ReadSafetensorsOptions;
}

const PREFIX = 'SMP checkpoint';

function parseConfig(text: string, where: string): Record<string, unknown> {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new Error(`${PREFIX}: ${SMP_CONFIG_FILE} (${where}) is not valid JSON: ${(e as Error).message}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new Error(`${PREFIX}: ${SMP_CONFIG_FILE} (${where}) must hold a JSON object of model arguments, got ${Array.isArray(config) ? 'an array' : JSON.stringify(config)}.`);
  }
  return config as Record<string, unknown>;
}

function decodeText(bytes: Uint8Array, where: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${PREFIX}: ${SMP_CONFIG_FILE} (${where}) is not UTF-8 text.`);
  }
}

async function withContext<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw new Error(`${PREFIX}: cannot read ${what}: ${(e as Error).message}`);
  }
}

/** Opens model.safetensors from `weights` and pairs it with the parsed config. */
async function openWith(config: Record<string, unknown>, weights: WeightsSource, from: { config: string; weights: string }, options: ReadSmpCheckpointOptions): Promise<OpenSmpCheckpoint> {
  const source = await withContext(SMP_WEIGHTS_FILE, () => openWeights(weights, options));
  /** A safetensors error, prefixed with the file and where it was read from. */
  const inWeights = (e: unknown) => new Error(`${PREFIX}: ${SMP_WEIGHTS_FILE} (${from.weights}): ${(e as Error).message}`);
  let reader: SafetensorsReader;
  try {
    reader = await openSafetensors(source, options.safetensors);
  } catch (e) {
    throw inWeights(e);
  }
  return {
    config,
    entries: reader.header.entries,
    metadata: reader.header.metadata,
    from,
    async tensor(name) {
      try {
        return await reader.tensor(name);
      } catch (e) {
        throw inWeights(e);
      }
    },
    close: () => reader.close(),
  };
}

async function fromFiles(files: SmpCheckpointFiles, options: ReadSmpCheckpointOptions): Promise<OpenSmpCheckpoint> {
  if (files === null || typeof files !== 'object' || !('config' in files) || !('weights' in files)) {
    throw new Error(`${PREFIX}: expected a directory, a URL or { config, weights }.`);
  }
  const { config } = files;
  let parsed: Record<string, unknown>;
  let configFrom = 'given config';
  if (typeof config === 'string') parsed = parseConfig(config, configFrom);
  else if (config instanceof Uint8Array || config instanceof ArrayBuffer) {
    parsed = parseConfig(decodeText(config instanceof Uint8Array ? config : new Uint8Array(config), configFrom), configFrom);
  } else if (typeof Blob !== 'undefined' && config instanceof Blob) {
    configFrom = typeof File !== 'undefined' && config instanceof File ? `file ${JSON.stringify(config.name)}` : 'given Blob';
    parsed = parseConfig(decodeText(new Uint8Array(await config.arrayBuffer()), configFrom), configFrom);
  } else if (config !== null && typeof config === 'object' && !Array.isArray(config)) {
    parsed = config as Record<string, unknown>;
  } else {
    throw new Error(`${PREFIX}: config must be JSON text, bytes, a Blob / File or an object, got ${config === null ? 'null' : typeof config}.`);
  }
  const w = files.weights;
  const weightsFrom = typeof w === 'string' ? w : w instanceof URL ? w.href
    : typeof File !== 'undefined' && w instanceof File ? `file ${JSON.stringify(w.name)}` : 'given weights';
  return openWith(parsed, w, { config: configFrom, weights: weightsFrom }, options);
}

async function fromUrl(base: string, options: ReadSmpCheckpointOptions): Promise<OpenSmpCheckpoint> {
  const dir = base.endsWith('/') ? base : `${base}/`;
  const configUrl = new URL(SMP_CONFIG_FILE, dir).href;
  const weightsUrl = new URL(SMP_WEIGHTS_FILE, dir).href;
  const configBytes = await withContext(SMP_CONFIG_FILE, () =>
    fetchWeights(configUrl, { ...options, cache: false, sha256: undefined, validate: undefined, progress: false, onProgress: undefined }));
  const config = parseConfig(decodeText(configBytes, configUrl), configUrl);
  return openWith(config, weightsUrl, { config: configUrl, weights: weightsUrl }, options);
}

async function fromDirectory(pathOrUrl: string, options: ReadSmpCheckpointOptions): Promise<OpenSmpCheckpoint> {
  const files = localFileAccess();
  if (files === null) {
    throw new Error(`${PREFIX}: cannot read the directory ${JSON.stringify(pathOrUrl)}: local paths can only be read in Node (import the package's Node entry). In a browser pass an http(s) URL or { config, weights } (e.g. two File objects).`);
  }
  const dir = files.resolve(/^file:/i.test(pathOrUrl) ? files.fileUrlToPath(pathOrUrl) : pathOrUrl);
  const kind = await files.kind(dir);
  if (kind === null) throw new Error(`${PREFIX}: directory not found: ${dir}`);
  if (kind === 'file') {
    throw new Error(`${PREFIX}: ${dir} is a file; pass the directory that save_pretrained wrote (holding ${SMP_CONFIG_FILE} and ${SMP_WEIGHTS_FILE}).`);
  }
  const configPath = files.join(dir, SMP_CONFIG_FILE);
  const weightsPath = files.join(dir, SMP_WEIGHTS_FILE);
  const missing = async (path: string) => (await files.kind(path)) === null;
  if (await missing(configPath)) {
    throw new Error(`${PREFIX}: ${SMP_CONFIG_FILE} not found in ${dir} (looked for ${configPath}); a directory written by save_pretrained holds ${SMP_CONFIG_FILE} and ${SMP_WEIGHTS_FILE}.`);
  }
  if (await missing(weightsPath)) {
    throw new Error(`${PREFIX}: ${SMP_WEIGHTS_FILE} not found in ${dir} (looked for ${weightsPath}); a directory written by save_pretrained holds ${SMP_CONFIG_FILE} and ${SMP_WEIGHTS_FILE}.`);
  }
  const { bytes: configBytes } = await withContext(SMP_CONFIG_FILE, () => readLocal(configPath, 'config file'));
  const config = parseConfig(decodeText(configBytes, configPath), configPath);
  return openWith(config, weightsPath, { config: configPath, weights: weightsPath }, options);
}

/**
 * Opens an SMP checkpoint from the same sources as {@link readSmpCheckpoint}, reading config.json
 * and the header of model.safetensors only; tensors are read one at a time with `tensor(name)`.
 * A local file or a Blob / File is then never held in memory whole (an http(s) URL, or a
 * `sha256` / `validate` option, needs the whole file first).
 */
export async function openSmpCheckpoint(source: SmpCheckpointSource, options: ReadSmpCheckpointOptions = {}): Promise<OpenSmpCheckpoint> {
  if (typeof source === 'string' || source instanceof URL) {
    const text = source instanceof URL ? source.href : source;
    if (text === '') throw new Error(`${PREFIX}: the source is an empty string; pass a directory, a URL or { config, weights }.`);
    return /^https?:\/\//i.test(text) ? fromUrl(text, options) : fromDirectory(text, options);
  }
  return fromFiles(source, options);
}

/**
 * Reads an SMP checkpoint (config.json + model.safetensors as `save_pretrained` writes them)
 * from a directory or `file://` URL (Node), an http(s) base URL (Node and browsers), or memory.
 * Returns the parsed config and the state dict; building the model is the caller's step.
 */
export async function readSmpCheckpoint(source: SmpCheckpointSource, options: ReadSmpCheckpointOptions = {}): Promise<SmpCheckpoint> {
  const open = await openSmpCheckpoint(source, options);
  try {
    const tensors = new Map<string, SafetensorsTensor>();
    for (const e of open.entries) tensors.set(e.name, await open.tensor(e.name));
    return { config: open.config, tensors, metadata: open.metadata, from: open.from };
  } finally {
    await open.close();
  }
}
