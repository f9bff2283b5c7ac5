import { Transform, type TransformCallback } from 'node:stream';
import { SingleBar } from 'cli-progress';
import { formatBytes } from './cli';

/** A byte counter shown as a bar with throughput and ETA; silent unless `stream` is a terminal. */
export interface ByteProgress {
  add(bytes: number): void;
  /** Removes nothing: leaves the finished bar on its line. */
  stop(): void;
  /** A pass-through stream that counts what goes through it. */
  counter(): Transform;
}

export function byteProgress(label: string, total: number, stream: NodeJS.WritableStream = process.stderr): ByteProgress {
  const tty = (stream as NodeJS.WritableStream & { isTTY?: boolean }).isTTY === true;
  const started = Date.now();
  let done = 0;
  const bar = tty
    ? new SingleBar({
        stream: stream as NodeJS.WriteStream,
        format: `${label} [{bar}] {percentage}% | {doneText} / {totalText} | {speed} | ETA {eta_formatted}`,
        barsize: 30,
        hideCursor: true,
        etaBuffer: 50,
        fps: 5,
      })
    : null;
  const payload = () => {
    const seconds = (Date.now() - started) / 1000;
    return { doneText: formatBytes(done), totalText: formatBytes(total), speed: seconds > 0 ? `${formatBytes(done / seconds)}/s` : '-' };
  };
  bar?.start(Math.max(total, 1), 0, payload());
  const add = (bytes: number) => {
    done += bytes;
    bar?.update(Math.min(done, Math.max(total, 1)), payload());
  };
  return {
    add,
    stop() {
      if (!bar) return;
      bar.update(Math.max(total, done, 1), payload());
      bar.stop();
    },
    counter() {
      return new Transform({
        transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
          add(chunk.length);
          callback(null, chunk);
        },
      });
    },
  };
}
