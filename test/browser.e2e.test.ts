// End-to-end test of the example page in real (Debian) Chromium, driven by playwright-core.
// Builds examples/browser with Vite, serves it on localhost, and checks what a visitor sees.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainingRecord } from '../src/cli/train.js';
import { batchSamples, createModel, formatCount, initBackend, paramCounts, syntheticCells } from '../src/node.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const root = fileURLToPath(new URL('..', import.meta.url));
const siteDir = join(root, 'dist-example');
const outDir = join(root, 'test-output');
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && process.env['SMTF_REQUIRE_BROWSER']) {
  throw new Error(`SMTF_REQUIRE_BROWSER is set but ${CHROMIUM} is missing: apt-get install chromium`);
}

// webgpu (SwiftShader) against cpu after the same two Adam steps from the same seeded weights:
// relative to the cpu loss, and to the largest |weight| of each weight tensor. Measured: the losses
// agree to every printed digit, the weights within 3e-5; the bounds leave room for other summation
// orders (real GPUs) while a wrong kernel (errors of order 1) still fails.
const LOSS_TOL = 1e-4;
const WEIGHT_TOL = 1e-3;

const MIME: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json',
};

/** Serves `dir` at `/`, and each `mounts` folder at its `/prefix/`. */
function serve(dir: string, mounts: Record<string, string> = {}): Promise<Server> {
  const server = createServer((req, res) => {
    let path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const prefix = Object.keys(mounts).find((m) => path.startsWith(`/${m}/`));
    const from = prefix === undefined ? dir : mounts[prefix]!;
    if (prefix !== undefined) path = path.slice(prefix.length + 1);
    let file = join(from, path);
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!file.startsWith(from) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe.skipIf(!haveBrowser)('example page in headless Chromium', () => {
  let server: Server;
  let browser: Browser;
  let base: string;
  // Models saved by the tests, served at /test-models/.
  const modelsDir = mkdtempSync(join(tmpdir(), 'smtf-e2e-models-'));

  beforeAll(async () => {
    const { build } = await import('vite');
    await build({ configFile: join(root, 'examples/browser/vite.config.ts'), logLevel: 'warn' });
    server = await serve(siteDir, { 'test-models': modelsDir });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--disable-sync', '--disable-quic',
        // WebGL on the CPU (SwiftShader): the machine has no GPU.
        '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
        // WebGPU on the CPU too (SwiftShader's Vulkan, a "fallback" adapter); needed even with --disable-gpu.
        '--enable-unsafe-webgpu',
      ],
    });
    mkdirSync(outDir, { recursive: true });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    rmSync(modelsDir, { recursive: true, force: true });
  });

  async function open(query = '', initScript?: () => void): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    if (initScript) await page.addInitScript(initScript);
    await page.goto(base + query);
    await page.waitForFunction(() => document.body.dataset['ready'] === 'true' || document.body.dataset['error'], null, {
      timeout: 120_000,
    });
    const error = await page.evaluate(() => document.body.dataset['error']);
    expect(error, 'page error').toBeUndefined();
    return { page, errors };
  }

  it('builds a model, predicts a non-trivial overlay, trains and shows the loss falling', async () => {
    const { page, errors } = await open();
    // 'auto' passes over the software WebGPU adapter for WebGL, without a notice.
    expect(await page.textContent('#backend')).toBe('webgl');
    expect(await page.isHidden('#backend-notice')).toBe(true);
    // default model: unet-padded 64x64x1, filters 8,16,32,64, BN, 1 class:
    // convs 120,681 (encoder 73,464 + up-convs 10,808 + decoder 36,400 + head 9) + BN 4 × 352 channels
    expect(await page.textContent('#params-total')).toBe('122,089');
    expect(await page.textContent('#params-non-trainable')).toBe('704');
    await page.selectOption('#model-name', 'unet');
    await page.fill('#input-size', '92');
    await page.fill('#filters', '4,8,16');
    await page.click('#build');
    await page.waitForFunction(() => document.body.dataset['built'] === 'unet');
    // the same count as the Node test of this config (7,722 with 2 classes) minus one head channel (5)
    expect(await page.textContent('#params-total')).toBe('7,717');
    expect(await page.textContent('#summary')).toContain('SMTF>CenterCrop2D');

    await page.fill('#epochs', '2');
    await page.click('#train');
    await page.waitForFunction(() => document.body.dataset['training'] === 'done' || document.body.dataset['error'], null, {
      timeout: 240_000,
    });
    expect(await page.evaluate(() => document.body.dataset['error'])).toBeUndefined();
    const history = JSON.parse((await page.evaluate(() => document.body.dataset['lossHistory']))!) as number[];
    expect(history).toHaveLength(2);
    expect(history[1]!).toBeLessThan(history[0]!);
    // the overlay canvas holds a mask: some but not all pixels are foreground
    const overlay = await page.evaluate(() => {
      const c = document.getElementById('overlay') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let tinted = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) tinted++;
      return { tinted, total: d.length / 4, width: c.width };
    });
    expect(overlay.width).toBe(32);
    expect(overlay.tinted).toBeGreaterThan(0.05 * overlay.total);
    expect(overlay.tinted).toBeLessThan(0.95 * overlay.total);
    await page.screenshot({ path: join(outDir, 'browser-example.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);

  /** Trains the page's tiny model (seeded) and reads back its per-epoch losses and final weights. */
  async function trainOnPage(page: Page, epochs: number, seed: number): Promise<{ losses: number[]; weights: number[][] }> {
    await page.fill('#epochs', String(epochs));
    await page.fill('#samples', '4'); // one batch of 4 per epoch: SwiftShader and cpu are slow
    await page.fill('#seed', String(seed));
    await page.click('#train');
    await page.waitForFunction(() => document.body.dataset['training'] === 'done' || document.body.dataset['error'], null, {
      timeout: 240_000,
    });
    expect(await page.evaluate(() => document.body.dataset['error'])).toBeUndefined();
    const losses = JSON.parse((await page.evaluate(() => document.body.dataset['lossHistory']))!) as number[];
    const weights = await page.evaluate(async () => {
      const model = (window as unknown as { smtfExample: { state: { model: { getWeights(): { data(): Promise<Float32Array> }[] } } } })
        .smtfExample.state.model;
      return Promise.all(model.getWeights().map(async (w) => Array.from(await w.data())));
    });
    return { losses, weights };
  }

  it('trains on webgpu (SwiftShader) as on cpu: same seed, same losses and weights', async () => {
    const cpuPage = await open('?backend=cpu');
    expect(await cpuPage.page.textContent('#backend')).toBe('cpu');
    const cpu = await trainOnPage(cpuPage.page, 2, 3);
    await cpuPage.page.close();

    const { page, errors } = await open('?backend=webgpu');
    expect(await page.textContent('#backend')).toBe('webgpu');
    expect(await page.textContent('#adapter')).toMatch(/google swiftshader.*software/);
    expect(await page.isHidden('#backend-notice')).toBe(true);
    const gpu = await trainOnPage(page, 2, 3);
    expect(await page.textContent('#train-status')).toMatch(/^Trained 2 epochs in .* s on webgpu/);
    await page.screenshot({ path: join(outDir, 'browser-example-webgpu.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();

    expect(gpu.losses).toHaveLength(2);
    expect(cpu.losses.every(Number.isFinite)).toBe(true);
    expect(cpu.losses[1]).not.toBe(cpu.losses[0]); // the first step changed the weights
    for (let e = 0; e < 2; e++) expect(Math.abs(gpu.losses[e]! - cpu.losses[e]!)).toBeLessThanOrEqual(LOSS_TOL * cpu.losses[e]!);
    expect(gpu.weights.length).toBe(cpu.weights.length);
    cpu.weights.forEach((w, i) => {
      let diff = 0;
      let scale = 0;
      w.forEach((v, j) => {
        diff = Math.max(diff, Math.abs(gpu.weights[i]![j]! - v));
        scale = Math.max(scale, Math.abs(v));
      });
      expect(diff, `weight ${i}`).toBeLessThanOrEqual(WEIGHT_TOL * scale);
    });
  }, 480_000);

  it('requesting webgpu where there is none falls back to webgl with a visible notice', async () => {
    // A browser without WebGPU.
    const { page } = await open('?backend=webgpu', () => {
      delete (Navigator.prototype as { gpu?: unknown }).gpu;
    });
    expect(await page.textContent('#backend')).toBe('webgl');
    expect(await page.isVisible('#backend-notice')).toBe(true);
    expect(await page.textContent('#backend-notice')).toMatch(
      /^webgpu was requested but is not available here: this browser has no WebGPU \(navigator\.gpu is missing.*Running on webgl instead\.$/,
    );
    await page.screenshot({ path: join(outDir, 'browser-example-fallback.png') });
    await page.click('#predict');
    await page.waitForFunction(() => document.body.dataset['predictMs'] !== undefined);
    // The backend menu switches in place, and the notice goes once the choice is honoured.
    await page.selectOption('#backend-choice', 'cpu');
    await page.waitForFunction(() => document.body.dataset['backend'] === 'cpu');
    expect(await page.textContent('#backend')).toBe('cpu');
    expect(await page.isHidden('#backend-notice')).toBe(true);
    expect(new URL(page.url()).search).toBe('?backend=cpu');
    await page.close();
  }, 180_000);

  /** The page's input and last prediction (the final output's probabilities). */
  async function pagePrediction(page: Page): Promise<{ input: number[]; shape: number[]; prediction: number[]; predShape: number[] }> {
    return page.evaluate(() => {
      const { state } = (window as unknown as {
        smtfExample: { state: { input: { data: Float32Array; height: number; width: number; channels: number }; prediction: { data: Float32Array; shape: number[] } } };
      }).smtfExample;
      return {
        input: Array.from(state.input.data),
        shape: [1, state.input.height, state.input.width, state.input.channels],
        prediction: Array.from(state.prediction.data),
        predShape: state.prediction.shape,
      };
    });
  }

  /** Waits until the page holds a new prediction (or shows an error) and returns the error, if any. */
  async function waitForPrediction(page: Page): Promise<string | undefined> {
    await page.waitForFunction(
      () =>
        (window as unknown as { smtfExample: { state: { prediction: unknown } } }).smtfExample.state.prediction !== null ||
        document.body.dataset['error'],
      null,
      { timeout: 120_000 },
    );
    return page.evaluate(() => document.body.dataset['error']);
  }

  function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
    expect(a.length).toBe(b.length);
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
    return d;
  }

  it('builds a model on a picked ImageNet encoder, shows its counts and predicts with its normalisation', async () => {
    // wasm: the quickest backend here for a first prediction of a new network (WebGL compiles a shader per layer).
    const { page, errors } = await open('?backend=wasm');
    const encoders = await page.$$eval('#encoder option', (os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(encoders).toEqual(['none', 'resnet18', 'resnet34', 'resnet50', 'mobilenet_v2', 'vgg16', 'vgg16_bn']);
    expect(await page.isDisabled('#encoder-depth')).toBe(true);
    await page.selectOption('#encoder', 'mobilenet_v2');
    expect(await page.isDisabled('#filters')).toBe(true);
    await page.fill('#encoder-depth', '3');
    await page.fill('#input-size', '32');
    await page.click('#build');
    await page.waitForFunction(() => document.body.dataset['encoder'] === 'mobilenet_v2' || document.body.dataset['error']);
    expect(await page.evaluate(() => document.body.dataset['error'])).toBeUndefined();
    // The library's numbers for the same model (decoder channels at depth 3 default to 64, 32, 16).
    const reference = createModel('unet-padded', {
      inputShape: [32, 32, 1], numClasses: 1, encoder: 'mobilenet_v2', encoderDepth: 3, decoderBatchNorm: true,
    });
    const counts = paramCounts(reference);
    reference.dispose();
    expect(await page.textContent('#params-total')).toBe(formatCount(counts.total));
    expect(await page.textContent('#params-trainable')).toBe(formatCount(counts.trainable));
    expect(await page.textContent('#params-non-trainable')).toBe(formatCount(counts.nonTrainable));
    expect(await page.textContent('#model-info')).toMatch(/^unet-padded on encoder mobilenet_v2 \(depth 3\).*Input \[32, 32, 1\]; .*mobilenet_v2 encoder normalisation \(x - mean\) \/ std with mean \[0\.449\], std \[0\.226\]/);

    await page.click('#sample');
    await page.click('#predict');
    expect(await waitForPrediction(page)).toBeUndefined();
    // The page's prediction is the model's on ImageNet-normalised pixels: one gray channel stands for
    // R = G = B, so it takes the mean of the RGB means (0.485, 0.456, 0.406) and stds (0.229, 0.224, 0.225).
    const check = await page.evaluate(() => {
      const { state, tf } = (window as unknown as {
        smtfExample: {
          state: { model: import('@tensorflow/tfjs').LayersModel; input: { data: Float32Array; height: number; width: number }; prediction: { data: Float32Array } };
          tf: typeof import('@tensorflow/tfjs');
        };
      }).smtfExample;
      const x = tf.tensor4d(state.input.data, [1, state.input.height, state.input.width, 1]);
      const diff = (y: import('@tensorflow/tfjs').Tensor) => tf.max(tf.abs(tf.sub(y, tf.tensor(state.prediction.data, y.shape)))).dataSync()[0]!;
      const normalised = tf.tidy(() => diff(state.model.predict(x.sub(0.449).div(0.226)) as import('@tensorflow/tfjs').Tensor));
      const raw = tf.tidy(() => diff(state.model.predict(x) as import('@tensorflow/tfjs').Tensor));
      x.dispose();
      return { normalised, raw };
    });
    expect(check.normalised).toBeLessThanOrEqual(1e-5);
    expect(check.raw).toBeGreaterThan(1e-3); // the normalisation matters for this model
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  it('loads a Node-trained model by URL and by files and predicts as Node does; bad inputs get clear errors', async () => {
    // In Node: a tiny padded UNet trained two epochs on normalised synthetic cells, saved as the CLI saves it
    // (on wasm: tfjs's cpu backend takes seconds per training step even for this model).
    await initBackend('wasm');
    const normalizeStats = { mean: [0.4], std: [0.3] };
    const model = createModel('unet-padded', { inputShape: [32, 32, 1], numClasses: 1, filters: [4, 8], name: 'node_tiny' });
    const { xs, ys } = batchSamples(syntheticCells({ count: 8, size: 32, seed: 7 }));
    const prepare = (x: tf.Tensor) => tf.tidy(() => x.sub(normalizeStats.mean[0]!).div(normalizeStats.std[0]!));
    const xn = prepare(xs);
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy' });
    await model.fit(xn, ys, { epochs: 2, batchSize: 4, verbose: 0, shuffle: false });
    tf.dispose([xs, ys, xn]);
    const cells = join(modelsDir, 'cells');
    await model.save(`file://${cells}`);
    const record: TrainingRecord = {
      model: 'unet-padded', modelOptions: { filters: [4, 8] }, numClasses: 1, channels: 1, size: [32, 32], fit: 'resize',
      sourceSize: [32, 32], normalize: normalizeStats, preprocessing: null, epochs: 2, bestEpoch: 1, monitor: 'loss', bestScore: 0,
    };
    writeFileSync(join(cells, 'training.json'), JSON.stringify(record, null, 2));
    // Not a segmentation model: a dense classifier.
    const dense = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [4] })] });
    await dense.save(`file://${join(modelsDir, 'dense')}`);
    dense.dispose();
    const nodePrediction = (input: number[], shape: number[], normalise = true) =>
      tf.tidy(() => {
        const x = tf.tensor(input, shape);
        return Array.from((model.predict(normalise ? prepare(x) : x) as tf.Tensor).dataSync());
      });

    const { page, errors } = await open();
    const loadStatus = () => page.textContent('#load-status');
    const loadFailed = () => page.waitForFunction(() => document.getElementById('load-status')!.classList.contains('error'));
    const expectSameAsNode = async () => {
      const p = await pagePrediction(page);
      expect(p.shape).toEqual([1, 32, 32, 1]);
      expect(p.predShape).toEqual([1, 32, 32, 1]);
      expect(maxAbsDiff(p.prediction, nodePrediction(p.input, p.shape))).toBeLessThanOrEqual(1e-4);
      // the page applied training.json's normalisation: without it Node predicts something else
      expect(maxAbsDiff(p.prediction, nodePrediction(p.input, p.shape, false))).toBeGreaterThan(1e-2);
    };

    // By URL (relative to the page), with training.json found next to model.json.
    await page.fill('#model-url', 'test-models/cells/model.json');
    await page.click('#load-url');
    expect(await waitForPrediction(page)).toBeUndefined();
    expect(await loadStatus()).toMatch(/^Loaded http:.*\/test-models\/cells\/model\.json, with training\.json \(trained at 32x32\); predicting at 32x32x1\.$/);
    expect(await page.textContent('#model-info')).toMatch(
      /^unet-padded on the plain encoder \(depth 1\).* Input \[32, 32, 1\]; input preparation: pixels in \[0, 1\], then normalize \(x - mean\) \/ std with mean \[0\.4\], std \[0\.3\]\.$/,
    );
    await expectSameAsNode();

    // A bad URL, then a model that is not a segmentation model: clear errors, the loaded model stays.
    await page.fill('#model-url', 'test-models/nowhere/model.json');
    await page.click('#load-url');
    await loadFailed();
    expect(await loadStatus()).toMatch(/^Could not load a model from http:.*\/test-models\/nowhere\/model\.json: .*404.*served with its weights file\(s\) next to it\)\.$/);
    await page.fill('#model-url', 'test-models/dense/model.json');
    await page.click('#load-url');
    await page.waitForFunction(() => /not a segmentation/.test(document.getElementById('load-status')!.textContent ?? ''));
    expect(await loadStatus()).toMatch(
      /dense\/model\.json is not a segmentation model: it maps \[batch, 4\] to \[batch, 2\], but the page needs one image input \[batch, height, width, channels\]/,
    );
    expect(await page.evaluate(() => document.body.dataset['loaded'])).toMatch(/cells\/model\.json$/);

    // By files: model.json without its weights is refused; with them (and training.json) it loads.
    await page.setInputFiles('#model-files', [join(cells, 'model.json')]);
    await page.waitForFunction(() => /needs the weights/.test(document.getElementById('load-status')!.textContent ?? ''));
    expect(await loadStatus()).toBe(
      'model.json needs the weights file(s) weights.bin, which are not among the files (model.json): ' +
        'pick or drop model.json together with its weights file(s) (weights.bin), and optionally training.json.',
    );
    await page.setInputFiles('#model-files', ['model.json', 'weights.bin', 'training.json'].map((f) => join(cells, f)));
    await page.waitForFunction(() => /^model\.json \(files/.test(document.body.dataset['loaded'] ?? ''));
    expect(await waitForPrediction(page)).toBeUndefined();
    expect(await loadStatus()).toMatch(/^Loaded model\.json \(files: model\.json, weights\.bin, training\.json\), with training\.json/);
    await expectSameAsNode();
    await page.screenshot({ path: join(outDir, 'browser-example-loaded.png'), fullPage: true });
    expect(errors).toEqual([]);
    model.dispose();
    await page.close();
  }, 180_000);
});
