/**
 * The Node implementation of LocalFileAccess (file system, environment, stderr). Node-only;
 * registered by the Node entry (src/node.ts) on import.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerLocalFileAccess, type LocalFileAccess } from './localFiles.js';
import type { ByteSource } from './safetensors.js';

/** What is at `path`: a directory, a file (anything else that exists), or nothing (`null`). */
export async function pathKind(path: string): Promise<'directory' | 'file' | null> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'file';
  } catch {
    return null;
  }
}

/**
 * Writes a file atomically: to a temporary name next to it, then renamed over it, so a reader
 * never sees a half-written file. Creates the folder if needed.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}-${randomBytes(6).toString('hex')}.partial`;
  try {
    await writeFile(temp, data);
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

/**
 * A file opened for positional reads: each `read` fills a fresh buffer with just its range, so
 * a large file is never held whole. A read past the end (the file shrank since it was opened)
 * is an error naming the file.
 */
export async function fileByteSource(path: string): Promise<ByteSource> {
  const handle = await open(path, 'r');
  let size: number;
  try {
    size = (await handle.stat()).size;
  } catch (e) {
    await handle.close();
    throw e;
  }
  let closed = false;
  return {
    byteLength: size,
    async read(offset, length) {
      if (closed) throw new Error(`${path}: read after the file was closed.`);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(out, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new Error(`${path}: the file ends at byte ${offset + done}, before the ${length} bytes at ${offset}; it was truncated while being read.`);
        }
        done += bytesRead;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

export const nodeFileAccess: LocalFileAccess = {
  async readFile(path) {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  },
  openFile: fileByteSource,
  kind: pathKind,
  writeFileAtomic,
  fileUrlToPath: (url) => fileURLToPath(url),
  join: (...parts) => join(...parts),
  resolve: (path) => resolve(path),
  homeDir: () => homedir(),
  env: (name) => process.env[name],
  progressStream: () => process.stderr,
};

/** Makes the browser-safe loaders able to read local paths and use the disk cache. */
export function registerNodeFileAccess(): void {
  registerLocalFileAccess(nodeFileAccess);
}
