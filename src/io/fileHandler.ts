/**
 * A `file://` IOHandler for Node without @tensorflow/tfjs-node, writing the same layout as
 * tfjs-node: `<dir>/model.json` (topology + weights manifest) and `<dir>/weights.bin`. Saves are
 * atomic (staged next to the folder, then renamed in), so an interrupted save never leaves a
 * broken model.
 * Node-only (uses fs and path); registered by the Node entry on import.
 *
 *   await model.save('file://./my-model');
 *   const m = await tf.loadLayersModel('file://./my-model/model.json');
 */
import { mkdir, mkdtemp, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { pathKind } from './nodeFiles.js';

/** The URL scheme of this library's Node file-system model handler (`file://`). */
export const FILE_SCHEME = 'file://';
const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

function expectedWeightBytes(specs: tf.io.WeightsManifestEntry[]): number | null {
  let total = 0;
  for (const s of specs) {
    const dtype = s.quantization?.dtype ?? s.dtype;
    const bytes = DTYPE_BYTES[dtype];
    if (bytes === undefined) return null; // e.g. string weights: size not known in advance
    total += s.shape.reduce((a, d) => a * d, 1) * bytes;
  }
  return total;
}

/** Writes a file and flushes it to disk before returning. */
async function writeDurable(path: string, data: Uint8Array | string): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes `files` into `dir` so that an interrupted save never leaves a broken model: everything
 * is first written (and flushed) to a staging folder next to `dir`, then moved in by rename. A new
 * `dir` appears whole in one rename; in an existing `dir` (which may hold other files) the weights
 * are renamed in first and the model JSON last, so model.json never points at a partly written
 * weights file. A crash before the renames leaves the previous model untouched (and a
 * `.<name>.saving-*` folder that can be deleted).
 */
async function saveAtomically(dir: string, files: [string, Uint8Array | string][]): Promise<void> {
  const target = resolve(dir);
  const parent = dirname(target);
  try {
    await mkdir(parent, { recursive: true });
  } catch (e) {
    throw new Error(`file:// save: cannot create directory ${parent}: ${(e as Error).message}`);
  }
  let stage: string;
  try {
    stage = await mkdtemp(join(parent, `.${basename(target)}.saving-`));
  } catch (e) {
    throw new Error(`file:// save: cannot write to ${parent}: ${(e as Error).message}`);
  }
  try {
    for (const [name, data] of files) {
      try {
        await writeDurable(join(stage, name), data);
      } catch (e) {
        throw new Error(`file:// save: cannot write ${join(dir, name)}: ${(e as Error).message}`);
      }
    }
    if (!(await pathExists(target))) {
      try {
        await rename(stage, target);
        return;
      } catch {
        // Created meanwhile by someone else: move file by file below.
      }
    }
    if ((await pathKind(target)) !== 'directory') throw new Error(`file:// save: ${dir} exists and is not a directory.`);
    for (const [name] of files) {
      try {
        await rename(join(stage, name), join(target, name));
      } catch (e) {
        throw new Error(`file:// save: cannot write ${join(dir, name)}: ${(e as Error).message}`);
      }
    }
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

async function pathExists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Reads a file, turning "not found" into an error that names it and what it is for. */
async function readNamed(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`Cannot load model: ${what} not found: ${path}`);
    throw new Error(`Cannot load model: cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

class FileSystemHandler implements tf.io.IOHandler {
  constructor(private readonly path: string) {}

  /** The folder and file names a save writes: `<dir>/model.json`, or `<dir>/<name>.json` for a .json path. */
  private target(): { dir: string; jsonName: string; weightsName: string } {
    if (this.path.toLowerCase().endsWith('.json')) {
      const jsonName = basename(this.path);
      return { dir: dirname(this.path), jsonName, weightsName: `${jsonName.slice(0, -5)}.weights.bin` };
    }
    return { dir: this.path, jsonName: MODEL_JSON, weightsName: WEIGHTS_BIN };
  }

  /** Whether a save here would replace an existing model (its model JSON file exists). */
  async exists(): Promise<boolean> {
    const { dir, jsonName } = this.target();
    try {
      return (await stat(join(dir, jsonName))).isFile();
    } catch {
      return false;
    }
  }

  async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
    if (artifacts.modelTopology instanceof ArrayBuffer) {
      throw new Error('file:// save: binary model topologies are not supported; save a LayersModel (JSON topology).');
    }
    const { dir, jsonName, weightsName } = this.target();
    const weightData = artifacts.weightData === undefined
      ? new ArrayBuffer(0)
      : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    const modelJSON: Record<string, unknown> = {
      modelTopology: artifacts.modelTopology,
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
      weightsManifest: [{ paths: [weightsName], weights: artifacts.weightSpecs ?? [] }],
    };
    for (const key of ['trainingConfig', 'signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature'] as const) {
      if (artifacts[key] !== undefined) modelJSON[key] = artifacts[key];
    }
    await saveAtomically(dir, [
      [weightsName, new Uint8Array(weightData)],
      [jsonName, JSON.stringify(modelJSON)],
    ]);
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }

  async load(): Promise<tf.io.ModelArtifacts> {
    const jsonPath = (await pathKind(this.path)) === 'directory' ? join(this.path, MODEL_JSON) : this.path;
    const text = (await readNamed(jsonPath, 'model JSON file')).toString('utf8');
    let modelJSON: tf.io.ModelJSON;
    try {
      modelJSON = JSON.parse(text) as tf.io.ModelJSON;
    } catch (e) {
      throw new Error(`Cannot load model: malformed JSON in ${jsonPath}: ${(e as Error).message}`);
    }
    if (modelJSON === null || typeof modelJSON !== 'object' || modelJSON.modelTopology == null) {
      throw new Error(`Cannot load model: ${jsonPath} has no "modelTopology"; is it a TensorFlow.js model.json?`);
    }
    const manifest = modelJSON.weightsManifest;
    if (manifest !== undefined && (!Array.isArray(manifest) ||
        !manifest.every((g) => g && Array.isArray(g.paths) && Array.isArray(g.weights)))) {
      throw new Error(`Cannot load model: malformed "weightsManifest" in ${jsonPath} (expected [{ paths, weights }]).`);
    }
    const dir = dirname(jsonPath);
    return tf.io.getModelArtifactsForJSON(modelJSON, async (groups) => {
      const specs: tf.io.WeightsManifestEntry[] = [];
      const buffers: ArrayBuffer[] = [];
      for (const group of groups) {
        const groupBuffers: Uint8Array[] = [];
        for (const p of group.paths) {
          const file = resolve(dir, p);
          groupBuffers.push(await readNamed(file, `weights file (listed in ${jsonPath})`));
        }
        const groupBytes = groupBuffers.reduce((a, b) => a + b.byteLength, 0);
        const expected = expectedWeightBytes(group.weights);
        if (expected !== null && expected !== groupBytes) {
          throw new Error(
            `Cannot load model: weights file(s) ${group.paths.map((p) => resolve(dir, p)).join(', ')} hold ` +
              `${groupBytes} bytes but ${jsonPath} describes ${expected}; the files are truncated or do not belong together.`,
          );
        }
        specs.push(...group.weights);
        for (const b of groupBuffers) buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
      }
      return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
    });
  }
}

/** An IOHandler reading/writing `path` (a directory, or a .json file path) on the local disk. */
export function fileSystem(path: string): tf.io.IOHandler {
  if (typeof path !== 'string' || path.length === 0) {
    throw new Error(`fileSystem: path must be a non-empty string, got ${JSON.stringify(path)}.`);
  }
  return new FileSystemHandler(path.startsWith(FILE_SCHEME) ? path.slice(FILE_SCHEME.length) : path);
}

function fileRouter(url: string | string[]): tf.io.IOHandler | null {
  const u = Array.isArray(url) ? (url.length === 1 ? url[0] : null) : url;
  return typeof u === 'string' && u.startsWith(FILE_SCHEME) ? fileSystem(u) : null;
}

let registered = false;

/**
 * Registers the `file://` save and load routers, each only when no handler for `file://`
 * exists yet (e.g. tfjs-node's). Idempotent. Returns which routers were registered now.
 */
export function registerFileHandler(): { save: boolean; load: boolean } {
  if (registered) return { save: false, load: false };
  registered = true;
  const probe = `${FILE_SCHEME}${join('probe', MODEL_JSON)}`;
  const save = tf.io.getSaveHandlers(probe).length === 0;
  const load = tf.io.getLoadHandlers(probe).length === 0;
  // tfjs routers return null for URLs they do not handle, though the type says IOHandler.
  const router = fileRouter as (url: string | string[]) => tf.io.IOHandler;
  if (save) tf.io.registerSaveRouter(router);
  if (load) tf.io.registerLoadRouter(router);
  return { save, load };
}
