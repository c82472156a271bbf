/**
 * Access to the local file system, environment and terminal, for code that must also run in a
 * browser. This module is browser-safe: it only holds the interface and the registered
 * implementation. The Node entry registers one backed by `node:fs` (src/io/nodeFiles.ts) on
 * import; in a browser none is registered, and callers fall back to what the browser offers (or
 * say that a local path needs Node).
 */
import type { ByteSource } from './safetensors.js';

/** Where download progress is drawn (Node: process.stderr). */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  /** Writes text (a progress line or bar). */
  write(text: string): unknown;
}

export interface LocalFileAccess {
  /** Reads a whole file. A missing file rejects with an error whose `code` is 'ENOENT'. */
  readFile(path: string): Promise<Uint8Array>;
  /**
   * Opens a file for reads at any position (each read loads only its range). A missing file
   * rejects with an error whose `code` is 'ENOENT'. The caller closes it.
   */
  openFile(path: string): Promise<ByteSource>;
  /** 'file', 'directory', or null when nothing is there. */
  kind(path: string): Promise<'file' | 'directory' | null>;
  /** Writes `bytes` to a temporary file beside `path`, then renames it over `path` (creating folders). */
  writeFileAtomic(path: string, bytes: Uint8Array): Promise<void>;
  fileUrlToPath(url: string): string;
  join(...parts: string[]): string;
  resolve(path: string): string;
  homeDir(): string;
  env(name: string): string | undefined;
  /** The stream download progress is drawn on, or null. */
  progressStream(): ProgressStream | null;
}

let access: LocalFileAccess | null = null;

/** Registers the local file access (done by the Node entry). Returns the previous one. */
export function registerLocalFileAccess(impl: LocalFileAccess | null): LocalFileAccess | null {
  const previous = access;
  access = impl;
  return previous;
}

/** The registered local file access, or null (in a browser). */
export function localFileAccess(): LocalFileAccess | null {
  return access;
}

/** True for errors meaning "no such file". */
export function isNotFound(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
