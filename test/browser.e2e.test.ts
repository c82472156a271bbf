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
      ],
    });
    mkdirSync(outDir, { recursive: true });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
  });

  async function open(query = ''): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
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
    expect(await page.textContent('#backend')).toBe('webgl');
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

  it('falls back cleanly when the requested backend is unavailable', async () => {
    const { page } = await open('?backend=webgpu');
    const backend = await page.textContent('#backend');
    expect(['webgl', 'wasm', 'cpu']).toContain(backend);
    await page.click('#predict');
    await page.waitForFunction(() => document.body.dataset['predictMs'] !== undefined);
    await page.close();
  }, 180_000);
});
