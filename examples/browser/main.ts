// The example page: build a model by name, show its summary, predict with an overlay, and train a
// tiny UNet on synthetic cells with a live loss chart. Everything runs in this tab.
import * as tf from '@tensorflow/tfjs';
import {
  backendInfo,
  batchSamples,
  classMapAsync,
  createModel,
  formatCount,
  initBackend,
  listModels,
  losses,
  overlayMask,
  paramCounts,
  summarize,
  syntheticCells,
  type WebGPUAdapterInfo,
} from 'segmentation-models-tfjs';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface PageState {
  backend: string;
  model: tf.LayersModel | null;
  /** The input shown on the input canvas: [H, W, C] floats in [0, 1]. */
  input: { data: Float32Array; height: number; width: number; channels: number } | null;
  lossHistory: number[];
}

const state: PageState = { backend: '', model: null, input: null, lossHistory: [] };
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
    fn().catch((err: unknown) => {
      setStatus(statusId, err instanceof Error ? err.message : String(err), true);
      document.body.dataset['error'] = String(err);
    });
  };
}

function readBuildOptions(): { name: string; options: Record<string, unknown> } {
  const size = Number($<HTMLInputElement>('input-size').value);
  const channels = Number($<HTMLInputElement>('channels').value);
  const filters = $<HTMLInputElement>('filters')
    .value.split(',')
    .map((f) => Number(f.trim()));
  return {
    name: $<HTMLSelectElement>('model-name').value,
    options: {
      inputShape: [size, size, channels],
      numClasses: Number($<HTMLInputElement>('classes').value),
      filters,
      batchNorm: $<HTMLInputElement>('batch-norm').checked,
    },
  };
}

function showModel(model: tf.LayersModel): void {
  const counts = paramCounts(model);
  $('params-total').textContent = formatCount(counts.total);
  $('params-trainable').textContent = formatCount(counts.trainable);
  $('params-non-trainable').textContent = formatCount(counts.nonTrainable);
  $('summary').textContent = summarize(model).text;
  document.body.dataset['paramsTotal'] = String(counts.total);
}

async function build(): Promise<void> {
  const { name, options } = readBuildOptions();
  state.model?.dispose();
  state.model = null;
  state.model = createModel(name, options);
  showModel(state.model);
  setStatus('build-status', `Built ${name} (${state.model.outputs.length} output(s)).`);
  document.body.dataset['built'] = name;
}

/** The model's first (final) segmentation output. */
function finalOutput(out: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(out) ? out[0]! : out;
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

function sampleInput(seed: number): NonNullable<PageState['input']> {
  const model = state.model;
  const shape = model?.inputs[0]!.shape ?? [null, 64, 64, 1];
  const size = shape[1] ?? 64;
  const channels = shape[3] ?? 1;
  const [s] = syntheticCells({ count: 1, size, seed, channels: channels === 3 ? 3 : 1 });
  return { data: s!.image, height: s!.height, width: s!.width, channels: s!.channels };
}

async function generateSample(): Promise<void> {
  state.input = sampleInput(Math.floor(Math.random() * 1e6));
  drawGray($<HTMLCanvasElement>('input-canvas'), state.input.data, state.input.height, state.input.width, state.input.channels);
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
  const x = tf.tensor4d(input.data, [1, input.height, input.width, input.channels]);
  const out = model.predict(x) as tf.Tensor | tf.Tensor[];
  const { classes, height: h, width: w } = await classMapAsync(finalOutput(out));
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
  state.model?.dispose();
  state.model = createModel('unet-padded', { inputShape: [size, size, 1], numClasses: 1, filters: [8, 16, 32], batchNorm: false, name: 'tiny_unet' });
  seedWeights(state.model, seed);
  showModel(state.model);
  const model = state.model;
  const { xs, ys } = batchSamples(syntheticCells({ count, size, seed }));
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
  state.input = sampleInput(12345);
  drawGray($<HTMLCanvasElement>('input-canvas'), state.input.data, state.input.height, state.input.width, 1);
  await predict();
  const first = state.lossHistory[0]!;
  const last = state.lossHistory[state.lossHistory.length - 1]!;
  setStatus('train-status', `Trained ${epochs} epochs in ${seconds.toFixed(1)} s on ${state.backend}: loss ${first.toFixed(4)} → ${last.toFixed(4)}.`);
  Object.assign(document.body.dataset, { training: 'done', lossHistory: JSON.stringify(state.lossHistory) });
}

async function loadDroppedImage(file: File): Promise<void> {
  const bitmap = await createImageBitmap(file);
  const model = state.model;
  const shape = model?.inputs[0]!.shape ?? [null, 64, 64, 1];
  const h = shape[1] ?? bitmap.height;
  const w = shape[2] ?? bitmap.width;
  const channels = shape[3] ?? 1;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const data = new Float32Array(h * w * channels);
  for (let i = 0; i < h * w; i++) {
    for (let k = 0; k < channels; k++) {
      data[i * channels + k] = channels >= 3 ? rgba[4 * i + Math.min(k, 2)]! / 255 : (rgba[4 * i]! + rgba[4 * i + 1]! + rgba[4 * i + 2]!) / 765;
    }
  }
  state.input = { data, height: h, width: w, channels };
  drawGray($<HTMLCanvasElement>('input-canvas'), data, h, w, channels);
  setStatus('predict-status', `Loaded ${file.name}, resized to ${h}x${w}.`);
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
