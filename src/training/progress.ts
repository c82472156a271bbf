/** Progress output of the training helper: a live bar on a TTY, plain lines otherwise. */

export interface ProgressSink {
  /** Called after every batch. */
  batch(epoch: number, epochs: number, batch: number, batches: number, loss: number): void;
  /** Called once per epoch with the finished line. */
  epoch(line: string): void;
}

interface Stream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

function stdout(): Stream | undefined {
  const proc = (globalThis as { process?: { stdout?: Stream } }).process;
  return proc?.stdout;
}

/** A progress bar `epoch 3/10 [=======>      ] 12/20 loss 0.1234`. */
export function progressBar(done: number, total: number, width = 24): string {
  const filled = total > 0 ? Math.min(width, Math.round((width * done) / total)) : 0;
  const head = filled < width && done > 0 ? '>' : '';
  return `[${'='.repeat(Math.max(0, filled - head.length))}${head}${' '.repeat(width - filled)}]`;
}

export interface ProgressOptions {
  /** Without a TTY: a batch line every this many batches (and at each epoch's last batch). Default 10. */
  every?: number;
  /** The stream whose `isTTY` decides between a redrawn bar and plain lines. Default `process.stdout`. */
  stream?: Stream;
}

/**
 * The default sink: a redrawn bar on a TTY; elsewhere (CI logs, files, browsers) a plain line
 * every `every` batches and at the end of each epoch, so a log never stays silent for long; and
 * one line per epoch either way.
 */
export function defaultProgress(log: (line: string) => void = console.log, options: ProgressOptions = {}): ProgressSink {
  const out = options.stream ?? stdout();
  const tty = out?.isTTY === true;
  const every = options.every ?? 10;
  return {
    batch(epoch, epochs, batch, batches, loss) {
      if (!tty || !out) {
        if (batch % every === 0 || batch === batches) log(`epoch ${epoch + 1}/${epochs} batch ${batch}/${batches} loss ${loss.toFixed(4)}`);
        return;
      }
      const line = `epoch ${epoch + 1}/${epochs} ${progressBar(batch, batches)} ${batch}/${batches} loss ${loss.toFixed(4)}`;
      out.write(`\r${line.slice(0, (out.columns ?? 120) - 1)}\u001b[K`);
    },
    epoch(line) {
      if (tty && out) out.write('\r\u001b[K');
      log(line);
    },
  };
}

/** A sink that prints nothing. */
export const silentProgress: ProgressSink = { batch() {}, epoch() {} };
