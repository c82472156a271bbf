// Every TypeScript code block of README.md and docs/**/*.md is type-checked against the built
// package (so a renamed option or export fails here), and every block that is self-contained
// (uses none of the names in test/snippets/ambient.d.ts) is also run. A block preceded by the
// line `<!-- snippet: no-run (reason) -->` is type-checked only (it needs files or is too slow).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const ambient = join(root, 'test/snippets/ambient.d.ts');
const outDir = join(root, 'test-output/snippets');
// tsx's loader by absolute URL: the snippets run in a temporary working directory.
const tsxLoader = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;

export interface Snippet {
  /** Markdown file, relative to the repository root. */
  doc: string;
  /** 1-based line of the opening fence. */
  line: number;
  code: string;
  /** False when the block is marked `<!-- snippet: no-run ... -->`. */
  runnable: boolean;
}

/** The ```ts / ```typescript blocks of a Markdown text. */
export function extractSnippets(doc: string, text: string): Snippet[] {
  const lines = text.split('\n');
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`${doc}:${start + 1}: code block is never closed`);
    const marker = start > 0 ? lines[start - 1]!.trim() : '';
    out.push({ doc, line: start + 1, code: body.join('\n'), runnable: !/^<!--\s*snippet:\s*no-run\b/.test(marker) });
  }
  return out;
}

function markdownFiles(): string[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(join(root, dir));
    } catch {
      return;
    }
    for (const name of entries.sort()) {
      const rel = `${dir}/${name}`;
      if (name.endsWith('.md')) files.push(rel);
      else if (!name.includes('.')) walk(rel);
    }
  };
  walk('docs');
  return files;
}

const snippets = markdownFiles().flatMap((doc) => extractSnippets(doc, readFileSync(join(root, doc), 'utf8')));

/** Writes the snippets as modules inside the package (so `segmentation-models-tfjs` resolves to itself). */
function writeSnippets(): Map<Snippet, string> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const files = new Map<Snippet, string>();
  for (const s of snippets) {
    const file = join(outDir, `${s.doc.replace(/[/.]/g, '_')}_L${s.line}.ts`);
    // `export {}` keeps every block in its own module scope.
    writeFileSync(file, `${s.code}\nexport {};\n`);
    files.set(s, file);
  }
  return files;
}

interface CheckResult {
  errors: string[];
  usesAmbient: boolean;
}

/** Type-checks every snippet file in one program; reports errors and use of ambient names per file. */
function typeCheck(files: string[]): Map<string, CheckResult> {
  const program = ts.createProgram([...files, ambient], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: ['node'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const results = new Map<string, CheckResult>();
  for (const file of files) {
    const source = program.getSourceFile(file)!;
    const errors = ts.getPreEmitDiagnostics(program, source).map((d) => {
      const { line } = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : { line: -1 };
      return `line ${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    let usesAmbient = false;
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node)) {
        const decls = checker.getSymbolAtLocation(node)?.declarations ?? [];
        if (decls.some((d) => d.getSourceFile().fileName === ambient)) usesAmbient = true;
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    results.set(file, { errors, usesAmbient });
  }
  return results;
}

describe('documentation snippets', () => {
  it('extracts blocks and their no-run markers', () => {
    const text = ['# t', '```ts', 'a();', '```', '<!-- snippet: no-run (needs files) -->', '```typescript', 'b();', '```', '```sh', 'ls', '```'].join('\n');
    expect(extractSnippets('x.md', text)).toEqual([
      { doc: 'x.md', line: 2, code: 'a();', runnable: true },
      { doc: 'x.md', line: 6, code: 'b();', runnable: false },
    ]);
    expect(() => extractSnippets('x.md', '```ts\nopen')).toThrow(/x.md:1: code block is never closed/);
  });

  it('finds the README and docs blocks', () => {
    expect(snippets.filter((s) => s.doc === 'README.md').length).toBeGreaterThan(0);
  });

  const files = writeSnippets();
  const checks = typeCheck([...files.values()]);

  it.each(snippets.map((s) => [`${s.doc}:${s.line}`, s] as const))('%s type-checks', (_, s) => {
    expect(checks.get(files.get(s)!)!.errors).toEqual([]);
  });

  const runnable = snippets.filter((s) => s.runnable && !checks.get(files.get(s)!)!.usesAmbient);
  it.each(runnable.map((s) => [`${s.doc}:${s.line}`, s] as const))('%s runs', (_, s) => {
    const cwd = mkdtempSync(join(tmpdir(), 'smtf-snippet-'));
    try {
      const r = spawnSync(process.execPath, ['--import', tsxLoader, files.get(s)!], { cwd, encoding: 'utf8', timeout: 90_000 });
      const where = `${s.doc}:${s.line} (${relative(root, files.get(s)!)})`;
      expect(r.status, `${where} failed:\n${r.stderr}`).toBe(0);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
