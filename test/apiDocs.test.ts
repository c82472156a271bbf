// The API reference (`npm run docs`, TypeDoc over src/index.ts and src/node.ts) builds without a
// single validation warning: every export documented, every {@link} resolving, no referenced type
// left unexported. typedoc.json turns validation warnings into errors; this runs the real CLI with
// that config into a temporary folder.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const typedocCli = join(root, 'node_modules/typedoc/bin/typedoc');

/** Runs TypeDoc with an options file plus `args`; type errors are `npm run typecheck`'s job. */
function typedoc(options: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [typedocCli, '--options', options, '--skipErrorChecking', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 110_000,
  });
  // Strip colour codes so the messages can be matched.
  return { status: r.status, output: `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '') };
}

describe('API reference (TypeDoc)', () => {
  it('builds with no validation warning', () => {
    const out = mkdtempSync(join(tmpdir(), 'smtf-apidocs-'));
    try {
      const { status, output } = typedoc(join(root, 'typedoc.json'), ['--out', out]);
      const problems = output.split('\n').filter((l) => /\[(warning|error)\]/.test(l));
      expect(problems).toEqual([]);
      expect(status, output).toBe(0);
      for (const page of ['index.html', 'modules/index.html', 'modules/node.html', 'functions/index.createModel.html']) {
        expect(existsSync(join(out, page)), `${page} missing from the generated reference`).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('fails on an undocumented export (the config treats validation warnings as errors)', () => {
    // test/fixtures/apiDocs/typedoc.json extends the project's typedoc.json with another entry point.
    const { status, output } = typedoc(join(root, 'test/fixtures/apiDocs/typedoc.json'), ['--emit', 'none']);
    expect(output).toMatch(/\bundocumented \(\w+\), defined in .*undocumented\.ts, does not have any documentation/);
    expect(output).not.toMatch(/\bdocumented \(\w+\), defined/);
    expect(status).not.toBe(0);
  });
});
