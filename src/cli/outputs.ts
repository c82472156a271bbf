/**
 * Output folders of the CLI commands, so that no run loses data: a non-empty folder is refused
 * unless `--overwrite` is given, a run never writes into (or reads from) its own inputs, and a run
 * that fails leaves no empty folder behind.
 */
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathKind } from '../io/nodeFiles.js';

async function entries(dir: string): Promise<string[] | null> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') throw new Error(`${dir} exists and is not a folder`);
    throw e;
  }
}

/** Whether `inner` is `outer` or inside it. */
export function isInside(inner: string, outer: string): boolean {
  const rel = relative(resolve(outer), resolve(inner));
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel));
}

export interface OutputFolderOptions {
  /** Command name for messages (`train`, `predict`, ...). */
  command: string;
  /** Replace files in a non-empty folder. */
  overwrite?: boolean;
  /** Input folders (and files) of the run: the output folder must be none of them nor inside one. */
  inputs?: string[];
  /** Names of files the command writes; with `overwrite`, these are removed before the run starts. */
  ownFiles?: string[];
  /** Entries that may already be there without `overwrite` (e.g. a previous demo's files). */
  allowed?: (name: string) => boolean;
}

export interface OutputFolder {
  path: string;
  /** After a failed run: removes the folders this run created if they are (still) empty. */
  cleanup(): Promise<void>;
}

/**
 * Checks and creates the output folder `dir` of a command. Throws when it is not empty (unless
 * `overwrite`), or is or lies inside one of the run's inputs.
 */
export async function prepareOutputFolder(dir: string, options: OutputFolderOptions): Promise<OutputFolder> {
  const { command } = options;
  for (const input of options.inputs ?? []) {
    if ((await pathKind(input)) === 'directory' && isInside(dir, input)) {
      throw new Error(
        `${command}: the output folder ${dir} is ${resolve(dir) === resolve(input) ? 'the' : 'inside the'} input folder ${input}; ` +
          'the run would mix its outputs with its inputs (and read them back next time). Choose an output folder outside it.',
      );
    }
  }
  const existing = await entries(dir);
  if (existing !== null) {
    const others = existing.filter((e) => !(options.allowed?.(e) ?? false));
    if (others.length > 0 && !options.overwrite) {
      const shown = others.slice(0, 5).join(', ') + (others.length > 5 ? `, and ${others.length - 5} more` : '');
      throw new Error(
        `${command}: the output folder ${dir} is not empty (${shown}); choose a new folder, or pass --overwrite to ` +
          'replace the files this command writes there.',
      );
    }
    if (options.overwrite) {
      for (const name of options.ownFiles ?? []) await rm(join(dir, name), { force: true, recursive: true });
    }
    return { path: dir, cleanup: async () => {} };
  }
  const created = await mkdir(dir, { recursive: true });
  return {
    path: dir,
    cleanup: async () => {
      if (created === undefined) return;
      // Remove dir and the parents mkdir created, innermost first, while they are empty.
      for (let d = resolve(dir); isInside(d, created); d = dirname(d)) {
        try {
          await rmdir(d);
        } catch {
          return;
        }
        if (d === resolve(created)) return;
      }
    },
  };
}

