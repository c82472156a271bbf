// End-to-end test of the example page in real (Debian) Chromium, driven by playwright-core.
// Builds examples/browser with Vite, serves it on localhost, and checks what a visitor sees.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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

function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    let file = join(dir, path);
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!file.startsWith(dir) || !existsSync(file)) {
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

  beforeAll(async () => {
    const { build } = await import('vite');
    await build({ configFile: join(root, 'examples/browser/vite.config.ts'), logLevel: 'warn' });
    server = await serve(siteDir);
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
});
