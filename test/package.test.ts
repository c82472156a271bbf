// The published package as a consumer sees it: `npm pack` the built package, unpack the tarball
// into a temporary project's node_modules (as `npm install <tarball>` would place it), and use it
// from ESM, from CommonJS `require`, through its executable, and from TypeScript with
// `moduleResolution` nodenext and bundler. The temporary project lives under test-output/ so its
// dependencies (the tfjs peer, pngjs, ...) resolve from this repository's node_modules: no network.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string; bin: Record<string, string>; dependencies: Record<string, string>; peerDependencies: Record<string, string>;
};
const project = join(root, 'test-output', `consumer-${process.pid}`);
const installed = join(project, 'node_modules', 'segmentation-models-tfjs');
let tarballFiles: string[] = [];

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: project, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function write(name: string, text: string): void {
  writeFileSync(join(project, name), text);
}

beforeAll(() => {
  rmSync(project, { recursive: true, force: true });
  mkdirSync(join(project, 'node_modules'), { recursive: true });
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', project], {
    cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  tarballFiles = info!.files.map((f) => f.path);
  execFileSync('tar', ['-xzf', join(project, info!.filename), '-C', project]);
  renameSync(join(project, 'package'), installed);
  write('package.json', JSON.stringify({ name: 'consumer', private: true }));
}, 120_000);

afterAll(() => {
  rmSync(project, { recursive: true, force: true });
});

describe('npm pack: what the tarball holds', () => {
  it('ships the build, the sources its maps point at, README and LICENSE; no tests', () => {
    for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.ts', 'dist/cli.js', 'src/index.ts']) {
      expect(tarballFiles, f).toContain(f);
    }
    expect(tarballFiles.some((f) => f.startsWith('test/'))).toBe(false);
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toContain('Copyright (c) 2026 segmentation-models-tfjs contributors');
  });

  it('every source map points at files inside the package', () => {
    const maps: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith('.map')) maps.push(join(dir, e.name));
      }
    };
    walk(join(installed, 'dist'));
    expect(maps.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot } = JSON.parse(readFileSync(map, 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const s of sources) {
        const file = resolve(dirname(map), sourceRoot ?? '', s);
        if (!file.startsWith(installed + sep) || !existsSync(file)) missing.push(`${relative(installed, map)} -> ${s}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every package the built code imports is a dependency or peer dependency', () => {
    const declared = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies)]);
    const imported = new Set<string>();
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith('.js')) {
          for (const m of readFileSync(join(dir, e.name), 'utf8').matchAll(/(?:from|import\()\s*['"]([^'".][^'"]*)['"]/g)) {
            const spec = m[1]!;
            if (spec.startsWith('node:')) continue;
            imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
          }
        }
      }
    };
    walk(join(installed, 'dist'));
    expect([...imported].filter((m) => !declared.has(m))).toEqual([]);
    expect(imported.has('@tensorflow/tfjs')).toBe(true);
  });
});

describe('a consumer project', () => {
  it('imports it as ESM (root with the Node parts under Node, /node and /browser subpaths)', () => {
    write('esm.mjs', `
      import * as smtf from 'segmentation-models-tfjs';
      import * as nodeOnly from 'segmentation-models-tfjs/node';
      import * as browser from 'segmentation-models-tfjs/browser';
      const model = smtf.createModel('unet-padded', { inputShape: [16, 16, 1], filters: [2, 4] });
      console.log(JSON.stringify({
        params: smtf.paramCounts(model).total,
        rootHasNode: typeof smtf.loadSegmentationDataset, subpath: typeof nodeOnly.readImage,
        browserHasNode: typeof browser.loadSegmentationDataset, same: smtf.createModel === browser.createModel,
      }));
    `);
    expect(JSON.parse(node(['esm.mjs']))).toEqual({
      params: 495, rootHasNode: 'function', subpath: 'function', browserHasNode: 'undefined', same: true,
    });
  });

  it('requires it from CommonJS (Node >= 20.19: require() of an ES module without top-level await)', () => {
    write('cjs.cjs', `
      const smtf = require('segmentation-models-tfjs');
      const nodeOnly = require('segmentation-models-tfjs/node');
      const model = smtf.createModel('unet-padded', { inputShape: [16, 16, 1], filters: [2, 4] });
      console.log(JSON.stringify({ params: smtf.paramCounts(model).total, rootHasNode: typeof smtf.loadSegmentationDataset, subpath: typeof nodeOnly.readImage }));
    `);
    expect(JSON.parse(node(['cjs.cjs']))).toEqual({ params: 495, rootHasNode: 'function', subpath: 'function' });
  });

  it('runs the executable named in "bin"', () => {
    const bin = Object.values(pkg.bin)[0]!;
    expect(node([join(installed, bin), '--version']).trim()).toBe(pkg.version);
  });

  // Both checks parse the same declaration files (tfjs's are large): parse each once.
  const parsed = new Map<string, ts.SourceFile | undefined>();

  /** Type-checks `files` with `options`; reports errors in them and in the package's own .d.ts files. */
  function typeCheck(files: string[], options: ts.CompilerOptions): string[] {
    const compilerOptions: ts.CompilerOptions = { target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, types: ['node'], ...options };
    const host = ts.createCompilerHost(compilerOptions);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (fileName, languageVersion, onError) => {
      if (!fileName.includes('/node_modules/')) return getSourceFile(fileName, languageVersion, onError);
      if (!parsed.has(fileName)) parsed.set(fileName, getSourceFile(fileName, languageVersion, onError));
      return parsed.get(fileName);
    };
    const program = ts.createProgram(files.map((f) => join(project, f)), compilerOptions, host);
    // tfjs's own declarations do not pass strict checks (hence skipLibCheck in practice): check
    // the consumer's files and this package's declarations only.
    const checked = program.getSourceFiles().filter((sf) => !sf.fileName.includes('/node_modules/') || sf.fileName.startsWith(installed + sep));
    expect(checked.some((sf) => sf.fileName.startsWith(join(installed, 'dist')))).toBe(true);
    const diagnostics = [
      ...program.getOptionsDiagnostics(),
      ...checked.flatMap((sf) => [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]),
    ];
    return diagnostics.map((d) => `${d.file ? relative(project, d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  }

  it('type-checks with moduleResolution nodenext (ESM and CommonJS files)', () => {
    write('esm.mts', `
      import { createModel, loadSegmentationDataset, type TrainOptions } from 'segmentation-models-tfjs';
      import { readImage } from 'segmentation-models-tfjs/node';
      const options: TrainOptions = { batchSize: 8, microBatch: 2 };
      const n: number = createModel('unet-padded', { inputShape: [32, 32, 1], filters: [4, 8] }).countParams();
      void [options, n, loadSegmentationDataset, readImage];
    `);
    write('cjs.cts', `
      import smtf = require('segmentation-models-tfjs');
      import { readImage } from 'segmentation-models-tfjs/node';
      const n: number = smtf.createModel('unet', { inputShape: [44, 44, 1], filters: [4, 8, 16] }).countParams();
      void [n, smtf.loadSegmentationDataset, readImage];
    `);
    expect(typeCheck(['esm.mts', 'cjs.cts'], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext })).toEqual([]);
  });

  it('type-checks with moduleResolution bundler: the root is the browser API, Node-only parts come from /node', () => {
    write('bundler.ts', `
      import { createModel, type TrainOptions } from 'segmentation-models-tfjs';
      import { loadSegmentationDataset, readImage } from 'segmentation-models-tfjs/node';
      // @ts-expect-error Under bundler resolution the root is the browser API.
      import { readImage as notInRoot } from 'segmentation-models-tfjs';
      const options: TrainOptions = { microBatch: 'auto' };
      void [createModel, options, loadSegmentationDataset, readImage, notInRoot];
    `);
    expect(typeCheck(['bundler.ts'], { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler })).toEqual([]);
  });
});
