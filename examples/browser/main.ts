// The example page: build a model by name (on the plain conv-block encoder or an ImageNet encoder),
// or load a trained one from a URL or files; show its summary, predict with an overlay, and train a
// tiny UNet on synthetic cells with a live loss chart. Everything runs in this tab.
import * as tf from '@tensorflow/tfjs';
import {
  backendInfo,
  batchSamples,
  classMapAsync,
  createModel,
  describeModelInfo,
  ENCODER_ARCHITECTURES,
  finalOutputIndex,
  formatCount,
  initBackend,
  listEncoders,
  listModels,
  losses,
  modelInfo,
  modelPreprocessing,
  normalizeChannels,
  overlayMask,
  paramCounts,
  preprocessInput,
  resolveModelName,
  summarize,
  syntheticCells,
  type EncoderArchitecture,
  type InputNormalization,
  type WebGPUAdapterInfo,
} from 'segmentation-models-tfjs';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** How training scaled image intensities (the CLI's `normalize`, recorded in training.json). */
type Normalization = 'unit' | 'standardize' | { mean: number[]; std: number[] };

/** The fields of the CLI's training.json that the page uses to prepare images as training did. */
interface TrainingRecord {
  channels: 1 | 3;
  /** [height, width] the model was trained at. */
  size: [number, number];
  normalize: Normalization;
  /** The encoder normalisation training applied after `normalize` (null: none). */
  preprocessing: Pick<InputNormalization, 'mean' | 'std'> & Partial<InputNormalization> | null;
}

interface PageState {
  backend: string;
  model: tf.LayersModel | null;
  /** training.json of a loaded model (null for models built here, or loaded without one). */
  record: TrainingRecord | null;
  /** The input shown on the input canvas: [H, W, C] floats in [0, 1]. */
  input: { data: Float32Array; height: number; width: number; channels: number } | null;
  /** The last prediction: the model's final segmentation output for `input` (probabilities). */
  prediction: { data: Float32Array; shape: number[] } | null;
  lossHistory: number[];
}

const state: PageState = { backend: '', model: null, record: null, input: null, prediction: null, lossHistory: [] };
// For the browser console (and the end-to-end test): the page's state and its tfjs.
Object.assign(window, { smtfExample: { state, tf } });

/** The backends a page can ask for ('tensorflow' is tfjs-node, Node only). */
const PAGE_BACKENDS = ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;
type PageBackend = (typeof PAGE_BACKENDS)[number];

function setStatus(id: string, text: string, error = false): void {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle('error', error);
}

/** Runs a UI action, reporting errors on the page instead of the console only. */
function action(statusId: string, fn: () => Promise<void>): () => void {
  return () => {
    delete document.body.dataset['error'];
    fn().catch((err: unknown) => {
      setStatus(statusId, err instanceof Error ? err.message : String(err), true);
      document.body.dataset['error'] = String(err);
    });
  };
}

/** '8,16,32' → [8, 16, 32]. */
function numberList(id: string): number[] {
  return $<HTMLInputElement>(id)
    .value.split(',')
    .map((f) => Number(f.trim()));
}

/** The encoder picked in the form ('none': the plain conv-block encoder), or null where the model takes none. */
function pickedEncoder(): string | null {
  const encoder = $<HTMLSelectElement>('encoder').value;
  return encoder === 'none' || !acceptsEncoder($<HTMLSelectElement>('model-name').value) ? null : encoder;
}

function acceptsEncoder(name: string): boolean {
  return ENCODER_ARCHITECTURES.includes(resolveModelName(name) as EncoderArchitecture);
}

function readBuildOptions(): { name: string; options: Record<string, unknown> } {
  const size = Number($<HTMLInputElement>('input-size').value);
  const channels = Number($<HTMLInputElement>('channels').value);
  const common = { inputShape: [size, size, channels], numClasses: Number($<HTMLInputElement>('classes').value) };
  const batchNorm = $<HTMLInputElement>('batch-norm').checked;
  const name = $<HTMLSelectElement>('model-name').value;
  const encoder = pickedEncoder();
  if (encoder === null) return { name, options: { ...common, filters: numberList('filters'), batchNorm } };
  // On an ImageNet encoder: the encoder fixes its channels; the form's batch norm is the decoder's.
  const options: Record<string, unknown> = {
    ...common,
    encoder,
    encoderDepth: Number($<HTMLInputElement>('encoder-depth').value),
    decoderBatchNorm: batchNorm,
  };
  if ($<HTMLInputElement>('decoder-channels').value.trim() !== '') options['decoderChannels'] = numberList('decoder-channels');
  return { name, options };
}

/** Enables the fields that apply to the picked model and encoder. */
function updateBuildForm(): void {
  const takesEncoder = acceptsEncoder($<HTMLSelectElement>('model-name').value);
  $<HTMLSelectElement>('encoder').disabled = !takesEncoder;
  const encoder = pickedEncoder() !== null;
  $<HTMLInputElement>('encoder-depth').disabled = !encoder;
  $<HTMLInputElement>('decoder-channels').disabled = !encoder;
  $<HTMLInputElement>('filters').disabled = encoder;
}

function describeNormalization(n: { mean: number[]; std: number[] }): string {
  const list = (v: number[]) => `[${v.map((x) => Number(x.toFixed(4))).join(', ')}]`;
  return `(x - mean) / std with mean ${list(n.mean)}, std ${list(n.std)}`;
}

/** The input normalisation the page applies before `model.predict`, in words. */
function describeInputPreparation(model: tf.LayersModel, record: TrainingRecord | null): string {
  const parts: string[] = [];
  const norm = record?.normalize ?? 'unit';
  if (norm === 'standardize') parts.push('per-image standardisation');
  else if (typeof norm === 'object') parts.push(`normalize ${describeNormalization(norm)}`);
  const pre = record ? record.preprocessing : modelPreprocessing(model);
  if (pre) parts.push(`${pre.encoder ? `${pre.encoder} ` : ''}encoder normalisation ${describeNormalization(pre)}`);
  return parts.length === 0 ? 'pixels in [0, 1]' : `pixels in [0, 1], then ${parts.join(', then ')}`;
}

function showModel(model: tf.LayersModel): void {
  const counts = paramCounts(model);
  $('params-total').textContent = formatCount(counts.total);
  $('params-trainable').textContent = formatCount(counts.trainable);
  $('params-non-trainable').textContent = formatCount(counts.nonTrainable);
  $('summary').textContent = summarize(model).text;
  const info = modelInfo(model);
  const shape = model.inputs[0]!.shape.slice(1).map((d) => d ?? 'any');
  $('model-info').textContent =
    `${info ? describeModelInfo(info) : `${model.name}: no segmentation-models-tfjs metadata (built elsewhere)`}. ` +
    `Input [${shape.join(', ')}]; input preparation: ${describeInputPreparation(model, state.record)}.`;
  Object.assign(document.body.dataset, { paramsTotal: String(counts.total), encoder: info?.encoder ?? '' });
}

/** Replaces the page's model (disposing the previous one). */
function setModel(model: tf.LayersModel, record: TrainingRecord | null): void {
  if (state.model !== model) state.model?.dispose();
  state.model = model;
  state.record = record;
  state.prediction = null;
  showModel(model);
}

async function build(): Promise<void> {
  const { name, options } = readBuildOptions();
  state.model?.dispose();
  state.model = null;
  setModel(createModel(name, options), null);
  const encoder = options['encoder'] === undefined ? '' : ` on ${String(options['encoder'])}`;
  setStatus('build-status', `Built ${name}${encoder} (${state.model!.outputs.length} output(s)).`);
  document.body.dataset['built'] = name;
}

/** The model's final segmentation output (the first, unless its metadata says otherwise). */
function finalOutput(model: tf.LayersModel, out: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(out) ? out[finalOutputIndex(model)]! : out;
}

/**
 * The batch `model.predict` gets for `input` (pixels in [0, 1]): the training record's `normalize`,
 * then the encoder normalisation (training.json's `preprocessing` when there is a record, else the
 * model's own from its metadata, as `predictTiled` does).
 */
function modelInput(model: tf.LayersModel, input: NonNullable<PageState['input']>): tf.Tensor4D {
  return tf.tidy(() => {
    let x: tf.Tensor4D = tf.tensor4d(input.data, [1, input.height, input.width, input.channels]);
    const norm = state.record?.normalize ?? 'unit';
    if (norm === 'standardize') {
      // Per image and channel, as the CLI's loader: population variance, std 0 → 1.
      const { mean, variance } = tf.moments(x, [1, 2], true);
      const std = tf.sqrt(variance);
      x = x.sub(mean).div(tf.where(tf.equal(std, 0), tf.onesLike(std), std));
    } else if (typeof norm === 'object') {
      x = normalizeChannels(x, norm);
    }
    if (state.record) return state.record.preprocessing ? normalizeChannels(x, state.record.preprocessing) : x;
    return preprocessInput(model, x);
  });
}

function drawGray(canvas: HTMLCanvasElement, data: Float32Array, h: number, w: number, c: number): void {
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < 3; k++) img.data[4 * i + k] = 255 * data[i * c + Math.min(k, c - 1)]!;
    img.data[4 * i + 3] = 255;
  }
  canvas.width = w;
  canvas.height = h;
  ctx.putImageData(img, 0, 0);
}

/** Draws the input in gray with the predicted classes as a coloured overlay; returns the foreground fraction. */
function drawOverlay(input: NonNullable<PageState['input']>, classes: Int32Array, h: number, w: number): number {
  const rgb = overlayMask(input, classes, h, w, { alpha: 0.55 });
  const canvas = $<HTMLCanvasElement>('overlay');
  const ctx = canvas.getContext('2d')!;
  canvas.width = w;
  canvas.height = h;
  const img = ctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    img.data.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return classes.reduce((n, c) => n + (c > 0 ? 1 : 0), 0) / (h * w);
}

/** [height, width, channels] of the images the page feeds the model: its input size, else the training size, else 64. */
function inputSize(): [number, number, number] {
  const shape = state.model?.inputs[0]!.shape ?? [null, 64, 64, 1];
  const [th, tw] = state.record?.size ?? [64, 64];
  return [shape[1] ?? th, shape[2] ?? tw, shape[3] ?? 1];
}

function sampleInput(seed: number): NonNullable<PageState['input']> {
  const [h, w, channels] = inputSize();
  const [s] = syntheticCells({ count: 1, size: [h, w], seed, channels: channels === 3 ? 3 : 1 });
  return { data: s!.image, height: s!.height, width: s!.width, channels: s!.channels };
}

function showInput(input: NonNullable<PageState['input']>): void {
  state.input = input;
  drawGray($<HTMLCanvasElement>('input-canvas'), input.data, input.height, input.width, input.channels);
}

async function generateSample(): Promise<void> {
  showInput(sampleInput(Math.floor(Math.random() * 1e6)));
  setStatus('predict-status', 'Sample ready.');
}

async function predict(): Promise<void> {
  if (!state.model) await build();
  const model = state.model!;
  if (!state.input) await generateSample();
  const input = state.input!;
  const [, mh, mw, mc] = model.inputs[0]!.shape;
  if ((mh !== null && mh !== input.height) || (mw !== null && mw !== input.width) || mc !== input.channels) {
    throw new Error(`the model expects ${mh}x${mw}x${mc} input but the image is ${input.height}x${input.width}x${input.channels}: rebuild or regenerate`);
  }
  const t0 = performance.now();
  const x = modelInput(model, input);
  const out = model.predict(x) as tf.Tensor | tf.Tensor[];
  const y = finalOutput(model, out);
  state.prediction = { data: (await y.data()) as Float32Array, shape: y.shape };
  const { classes, height: h, width: w } = await classMapAsync(y);
  tf.dispose([x, out]);
  const ms = performance.now() - t0;
  const fraction = drawOverlay(input, classes, h, w);
  setStatus('predict-status', `Predicted ${h}x${w} on ${state.backend} in ${ms.toFixed(0)} ms; foreground ${(100 * fraction).toFixed(1)} %.`);
  Object.assign(document.body.dataset, { predictMs: ms.toFixed(1), foreground: fraction.toFixed(4) });
}

function drawLossChart(history: number[]): void {
  const canvas = $<HTMLCanvasElement>('loss-chart');
  const ctx = canvas.getContext('2d')!;
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = '#ccc';
  ctx.strokeRect(30, 10, width - 40, height - 30);
  if (history.length === 0) return;
  const max = Math.max(...history);
  const min = Math.min(0, ...history);
  const x = (i: number) => 30 + ((width - 40) * i) / Math.max(1, history.length - 1);
  const y = (v: number) => 10 + (height - 30) * (1 - (v - min) / (max - min || 1));
  ctx.strokeStyle = '#d33';
  ctx.lineWidth = 2;
  ctx.beginPath();
  history.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
  ctx.stroke();
  ctx.fillStyle = '#333';
  ctx.font = '12px sans-serif';
  ctx.fillText(`loss ${history[history.length - 1]!.toFixed(4)} (epoch ${history.length})`, 36, 24);
}

/**
 * Re-draws the kernels He-normal from `seed` (biases keep their zeros). tfjs draws seeded random
 * numbers in JavaScript, so the weights are the same on every backend.
 */
function seedWeights(model: tf.LayersModel, seed: number): void {
  const values = model.weights.map((w, i) => {
    const shape = w.shape as number[];
    if (shape.length < 2) return w.read().clone();
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    return tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed * 1000 + i);
  });
  model.setWeights(values);
  tf.dispose(values);
}

async function trainTiny(): Promise<void> {
  const epochs = Number($<HTMLInputElement>('epochs').value);
  const seed = Number($<HTMLInputElement>('seed').value);
  const count = Number($<HTMLInputElement>('samples').value);
  const size = 32;
  setStatus('train-status', 'Generating synthetic cells…');
  await tf.nextFrame(); // let the status show (and the click return) before the long synchronous work
  const model = createModel('unet-padded', { inputShape: [size, size, 1], numClasses: 1, filters: [8, 16, 32], batchNorm: false, name: 'tiny_unet' });
  seedWeights(model, seed);
  setModel(model, null);
  const batch = batchSamples(syntheticCells({ count, size, seed }));
  // Prepared as predict() prepares images (unchanged for this plain model; an encoder model would get its normalisation).
  const xs = preprocessInput(model, batch.xs);
  const ys = batch.ys;
  tf.dispose(batch.xs);
  model.compile({ optimizer: tf.train.adam(0.01), loss: losses.combine([[losses.binaryCrossentropy(), 1], [losses.dice(), 1]]) });
  state.lossHistory = [];
  drawLossChart(state.lossHistory);
  document.body.dataset['training'] = 'running';
  const t0 = performance.now();
  await model.fit(xs, ys, {
    epochs,
    batchSize: 8,
    shuffle: false, // the samples are independent draws already; a fixed order keeps runs comparable
    callbacks: {
      onEpochEnd: async (epoch, logs) => {
        state.lossHistory.push(logs!['loss'] as number);
        drawLossChart(state.lossHistory);
        setStatus('train-status', `epoch ${epoch + 1}/${epochs}: loss ${(logs!['loss'] as number).toFixed(4)}`);
        await tf.nextFrame();
      },
    },
  });
  tf.dispose([xs, ys]);
  const seconds = (performance.now() - t0) / 1000;
  showInput(sampleInput(12345));
  await predict();
  const first = state.lossHistory[0]!;
  const last = state.lossHistory[state.lossHistory.length - 1]!;
  setStatus('train-status', `Trained ${epochs} epochs in ${seconds.toFixed(1)} s on ${state.backend}: loss ${first.toFixed(4)} → ${last.toFixed(4)}.`);
  Object.assign(document.body.dataset, { training: 'done', lossHistory: JSON.stringify(state.lossHistory) });
}

async function loadDroppedImage(file: File): Promise<void> {
  const bitmap = await createImageBitmap(file);
  const [h, w, channels] = inputSize();
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const data = new Float32Array(h * w * channels);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < channels; k++) {
      // Gray by luminance, as the CLI's loader turns RGB files into 1-channel training images.
      data[i * channels + k] =
        channels >= 3 ? rgba[4 * i + Math.min(k, 2)]! / 255 : (0.299 * rgba[4 * i]! + 0.587 * rgba[4 * i + 1]! + 0.114 * rgba[4 * i + 2]!) / 255;
    }
  }
  showInput({ data, height: h, width: w, channels });
  setStatus('predict-status', `Loaded ${file.name}, resized to ${h}x${w}.`);
}

// --- Loading a trained model (from a URL, or from picked / dropped files) ---

const RECORD_FILE = 'training.json';

function isNumberList(v: unknown, n?: number): v is number[] {
  return Array.isArray(v) && (n === undefined || v.length === n) && v.every((x) => typeof x === 'number' && Number.isFinite(x));
}

/** Checks the fields of a training.json the page relies on; throws naming the bad field. */
function checkTrainingRecord(value: unknown, source: string): TrainingRecord {
  const bad = (what: string) =>
    new Error(`${source} is not a training.json written by segmentation-models-tfjs train: ${what}`);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('not a JSON object');
  const r = value as Record<string, unknown>;
  if (r['channels'] !== 1 && r['channels'] !== 3) throw bad(`channels must be 1 or 3, got ${JSON.stringify(r['channels'])}`);
  if (!isNumberList(r['size'], 2) || !r['size'].every((d) => Number.isInteger(d) && d > 0)) {
    throw bad(`size must be [height, width], got ${JSON.stringify(r['size'])}`);
  }
  const norm = r['normalize'] ?? 'unit';
  const stats = (v: unknown): v is { mean: number[]; std: number[] } =>
    v !== null && typeof v === 'object' && isNumberList((v as { mean?: unknown }).mean) &&
    isNumberList((v as { std?: unknown }).std) && (v as { std: number[] }).std.every((x) => x > 0);
  if (norm !== 'unit' && norm !== 'standardize' && !stats(norm)) {
    throw bad(`normalize must be 'unit', 'standardize' or { mean, std }, got ${JSON.stringify(norm)}`);
  }
  const pre = r['preprocessing'] ?? null;
  if (pre !== null && !stats(pre)) throw bad(`preprocessing must be null or { mean, std, ... }, got ${JSON.stringify(pre)}`);
  return { channels: r['channels'], size: [r['size'][0]!, r['size'][1]!], normalize: norm, preprocessing: pre };
}

/** Throws unless `model` maps one image batch [N, H, W, C] to a per-pixel map [N, H, W, K]. */
function checkSegmentationModel(model: tf.LayersModel, source: string): void {
  const shapes = (ts: tf.SymbolicTensor[]) => ts.map((t) => `[${t.shape.map((d) => d ?? 'batch').join(', ')}]`).join(', ');
  const input = model.inputs.length === 1 ? model.inputs[0]!.shape : null;
  const output = model.outputs[finalOutputIndex(model)]!.shape;
  if (input === null || input.length !== 4 || typeof input[3] !== 'number' || output.length !== 4) {
    throw new Error(
      `${source} is not a segmentation model: it maps ${shapes(model.inputs)} to ${shapes(model.outputs)}, but the page needs ` +
        'one image input [batch, height, width, channels] and a per-pixel output [batch, height, width, classes].',
    );
  }
}

/** Makes a loaded model the page's model: checks it, shows what it is, and predicts a sample. */
async function useLoadedModel(model: tf.LayersModel, record: TrainingRecord | null, source: string): Promise<void> {
  try {
    checkSegmentationModel(model, source);
    modelInfo(model); // throws on malformed library metadata
    const channels = model.inputs[0]!.shape[3];
    if (record && record.channels !== channels) {
      throw new Error(`${RECORD_FILE} says the model was trained on ${record.channels}-channel images, but ${source} takes ${channels} channel(s): are they from the same run?`);
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  setModel(model, record);
  setStatus('build-status', `Showing the loaded model '${model.name}' (Build replaces it).`);
  const [h, w, c] = inputSize();
  const recordText = record ? `, with ${RECORD_FILE} (trained at ${record.size.join('x')})` : `, no ${RECORD_FILE}`;
  setStatus('load-status', `Loaded ${source}${recordText}; predicting at ${h}x${w}x${c}.`);
  document.body.dataset['loaded'] = source;
  showInput(sampleInput(12345));
  await predict();
}

/** training.json next to a model URL, or null when there is none (a missing file, or a page instead of JSON). */
async function fetchTrainingRecord(url: URL): Promise<TrainingRecord | null> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch {
    return null;
  }
  if (!response.ok) return null;
  let value: unknown;
  try {
    value = JSON.parse(await response.text());
  } catch {
    return null; // e.g. a dev server's index.html fallback
  }
  return checkTrainingRecord(value, url.href);
}

async function loadFromUrl(): Promise<void> {
  const text = $<HTMLInputElement>('model-url').value.trim();
  if (text === '') throw new Error('Enter the URL of a model.json (saved with model.save or by the CLI), e.g. models/cells/model.json.');
  let url: URL;
  try {
    url = new URL(text, location.href);
  } catch {
    throw new Error(`'${text}' is not a URL: enter the address of a model.json, e.g. models/cells/model.json.`);
  }
  setStatus('load-status', `Loading ${url.href}…`);
  const record = await fetchTrainingRecord(new URL(RECORD_FILE, url));
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(url.href);
  } catch (e) {
    throw new Error(
      `Could not load a model from ${url.href}: ${e instanceof Error ? e.message : String(e)} ` +
        '(the URL must point to a model.json written by model.save or the CLI, served with its weights file(s) next to it).',
    );
  }
  await useLoadedModel(model, record, url.href);
}

async function readJson(file: File): Promise<unknown> {
  try {
    return JSON.parse(await file.text());
  } catch (e) {
    throw new Error(`${file.name} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Loads model.json + its weights files (+ optional training.json) picked or dropped by the user. */
async function loadFromFiles(files: File[]): Promise<void> {
  const names = files.map((f) => f.name).join(', ');
  const need = 'pick or drop model.json together with its weights file(s) (weights.bin), and optionally training.json';
  if (files.length === 0) throw new Error(`No files: ${need}.`);
  let modelFile: File | null = null;
  let paths: string[] = [];
  let record: TrainingRecord | null = null;
  for (const file of files.filter((f) => f.name.toLowerCase().endsWith('.json'))) {
    const value = await readJson(file);
    const manifest = (value as { weightsManifest?: unknown } | null)?.weightsManifest;
    if (value !== null && typeof value === 'object' && 'modelTopology' in value) {
      if (modelFile) throw new Error(`Two model files (${modelFile.name}, ${file.name}): ${need}.`);
      if (!Array.isArray(manifest) || manifest.length === 0) throw new Error(`${file.name} has no weights manifest: it is a topology without weights; save the model with model.save.`);
      modelFile = file;
      paths = (manifest as { paths: string[] }[]).flatMap((g) => g.paths.map((p) => p.split('/').pop()!));
    } else if (file.name === RECORD_FILE) {
      record = checkTrainingRecord(value, file.name);
    } else {
      throw new Error(`${file.name} is neither a model.json (it has no "modelTopology") nor ${RECORD_FILE}: ${need}.`);
    }
  }
  if (!modelFile) throw new Error(`None of the files (${names}) is a model.json: ${need}.`);
  const weights = paths.map((p) => files.find((f) => f.name === p));
  const missing = paths.filter((_, i) => weights[i] === undefined);
  if (missing.length > 0) {
    throw new Error(`${modelFile.name} needs the weights file(s) ${missing.join(', ')}, which are not among the files (${names}): ${need}.`);
  }
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.browserFiles([modelFile, ...(weights as File[])]));
  } catch (e) {
    throw new Error(`Could not load a model from ${names}: ${e instanceof Error ? e.message : String(e)}`);
  }
  await useLoadedModel(model, record, `${modelFile.name} (files: ${names})`);
}

function describeAdapter(a: WebGPUAdapterInfo): string {
  const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' ');
  return `(${name || 'unnamed adapter'}${a.software ? '; software: WebGPU on the CPU' : ''})`;
}

/** Starts backend `choice` (falling back down the 'auto' order) and shows which one runs, and why when it differs. */
async function useBackend(choice: PageBackend): Promise<void> {
  // Bundlers cannot follow the library's optional import of the WebGPU backend, so the page loads
  // it (a separate chunk), only where it can be used.
  if ((choice === 'auto' || choice === 'webgpu') && 'gpu' in navigator) await import('@tensorflow/tfjs-backend-webgpu');
  state.backend = await initBackend(choice, { fallback: true });
  const info = backendInfo();
  $<HTMLSelectElement>('backend-choice').value = choice;
  $('backend').textContent = state.backend;
  $('adapter').textContent = info.adapter ? describeAdapter(info.adapter) : '';
  const notice = $('backend-notice');
  const reason = info.skipped.find((s) => s.backend === choice)?.reason;
  notice.hidden = choice === 'auto' || state.backend === choice;
  notice.textContent = notice.hidden ? '' : `${choice} was requested but is not available here: ${reason ?? 'unknown reason'}. Running on ${state.backend} instead.`;
  Object.assign(document.body.dataset, { backend: state.backend, backendNotice: notice.textContent });
}

async function switchBackend(): Promise<void> {
  const choice = $<HTMLSelectElement>('backend-choice').value as PageBackend;
  state.model?.dispose();
  state.model = null;
  await useBackend(choice);
  history.replaceState(null, '', `?backend=${choice}`);
  await build();
}

async function start(): Promise<void> {
  const select = $<HTMLSelectElement>('model-name');
  for (const name of listModels()) select.add(new Option(name, name, name === 'unet-padded', name === 'unet-padded'));
  const encoders = $<HTMLSelectElement>('encoder');
  for (const name of listEncoders()) encoders.add(new Option(name, name));
  select.addEventListener('change', updateBuildForm);
  encoders.addEventListener('change', updateBuildForm);
  updateBuildForm();
  const asked = new URLSearchParams(location.search).get('backend') ?? 'auto';
  await useBackend(PAGE_BACKENDS.includes(asked as PageBackend) ? (asked as PageBackend) : 'auto');
  $('backend-choice').addEventListener('change', action('build-status', switchBackend));
  $('build-form').addEventListener('submit', (e) => {
    e.preventDefault();
    action('build-status', build)();
  });
  $('sample').addEventListener('click', action('predict-status', generateSample));
  $('predict').addEventListener('click', action('predict-status', predict));
  $('train').addEventListener('click', action('train-status', trainTiny));
  $('load-form').addEventListener('submit', (e) => {
    e.preventDefault();
    action('load-status', loadFromUrl)();
  });
  const picker = $<HTMLInputElement>('model-files');
  picker.addEventListener('change', () => {
    const files = Array.from(picker.files ?? []);
    picker.value = ''; // picking the same files again loads them again
    action('load-status', () => loadFromFiles(files))();
  });
  const modelDrop = $('model-drop');
  modelDrop.addEventListener('dragover', (e) => e.preventDefault());
  modelDrop.addEventListener('drop', (e) => {
    e.preventDefault();
    action('load-status', () => loadFromFiles(Array.from(e.dataTransfer?.files ?? [])))();
  });
  const drop = $<HTMLCanvasElement>('input-canvas');
  drop.addEventListener('dragover', (e) => e.preventDefault());
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    const file = e.dataTransfer?.files[0];
    if (file) action('predict-status', () => loadDroppedImage(file))();
  });
  await build();
  document.body.dataset['ready'] = 'true';
}

start().catch((err: unknown) => {
  $('backend').textContent = `failed: ${String(err)}`;
  document.body.dataset['error'] = String(err);
});
