import { close as closeFd, read as readFd } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import type { ByteRange } from '../lib/byte-range';
import type { SelfWritingBody } from '../lib/self-writing-body';
import type { BlobReadResult } from './blob-store';

/*
 * The filesystem store's reads once a file is open: positional reads into buffers, a small read
 * held in memory, and the chunked range stream that can write itself into an HTTP response.
 */

/** Promise around a callback-style fs call. */
export function fsCall<T>(call: (done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    call((err, value) => (err ? reject(err) : resolvePromise(value)));
  });
}

/** Fills `into` with the bytes at `position`; fails when the file ends first. */
export async function readExactly(fd: number, position: number, into: Buffer): Promise<Buffer> {
  const length = into.length;
  let offset = 0;
  while (offset < length) {
    const bytesRead = await fsCall<number>((done) => readFd(fd, into, offset, length - offset, position + offset, done));
    if (bytesRead === 0) throw new Error(`file ended after ${offset} of ${length} bytes at ${position}: truncated while read`);
    offset += bytesRead;
  }
  return into;
}

/** A stream that delivers `data` as its only chunk. */
function oneChunk(data: Buffer): Readable {
  const body = new Readable({ read() {} });
  if (data.length > 0) body.push(data);
  body.push(null);
  return body;
}

/**
 * A read already held in memory: `bytes` for callers that can take a buffer (an HTTP response
 * sends it in one write), `body` as a one-chunk stream, made only when asked for.
 */
export class InMemoryRead implements BlobReadResult {
  private stream: Readable | undefined;

  constructor(
    readonly bytes: Buffer,
    readonly totalSize: number,
  ) {}

  get length(): number {
    return this.bytes.length;
  }

  get body(): Readable {
    this.stream ??= oneChunk(this.bytes);
    return this.stream;
  }
}

/** Positional reads FileRangeStream.writeTo keeps in flight, one chunk each. */
export const READ_AHEAD_CHUNKS = 2;
/** Chunk buffers FileRangeStream.writeTo cycles through: some being read into, the rest being written out. */
export const WRITE_TO_BUFFERS = 4;

/**
 * Bytes `[start, start + length)` of an open descriptor, in chunks of `chunkSize`.
 *
 * Read as a stream, it reads one chunk at a time into a new buffer, as fs.ReadStream does (a
 * reader may keep the chunks). `writeTo` is the fast way out to a destination such as an HTTP
 * response: READ_AHEAD_CHUNKS reads run at once, into WRITE_TO_BUFFERS buffers reused as soon as
 * the destination reports a chunk written. So the next chunk is read while the last one goes out,
 * and a download allocates no buffer per chunk: chunk buffers that outlive a few scavenges are
 * promoted, and in a server's heap freeing them then takes full collections.
 *
 * Owns the descriptor: closes it when the stream ends, fails or is destroyed, once no read is in
 * flight, so the number is never reused under a read. A file that ends early fails the read.
 */
export class FileRangeStream extends Readable implements SelfWritingBody {
  /** Position of the next read; reads end at `end` (exclusive). */
  private position: number;
  private readonly end: number;
  private inFlight = 0;
  private onIdle: (() => void) | null = null;
  private writing = false;

  constructor(
    private readonly fd: number,
    private readonly start: number,
    length: number,
    private readonly chunkSize: number,
    private readonly toError: (err: unknown) => Error,
  ) {
    super({ highWaterMark: chunkSize });
    this.position = start;
    this.end = start + length;
  }

  override _read(): void {
    if (this.writing) {
      this.destroy(new Error('FileRangeStream read while writeTo is sending it'));
      return;
    }
    const size = Math.min(this.chunkSize, this.end - this.position);
    if (size <= 0) {
      this.push(null);
      return;
    }
    const position = this.position;
    this.position += size;
    this.readAt(position, Buffer.allocUnsafeSlow(size)).then(
      (data) => {
        if (!this.destroyed) this.push(data);
      },
      (err: unknown) => {
        if (!this.destroyed) this.destroy(this.toError(err));
      },
    );
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    const close = () => closeFd(this.fd, (closeErr) => callback(err ?? closeErr));
    if (this.inFlight === 0) close();
    else this.onIdle = close;
  }

  writeTo(out: Writable): Promise<void> {
    if (this.position !== this.start || this.writing || this.destroyed) return Promise.reject(new Error('writeTo on a stream already read from'));
    this.writing = true;
    return new Promise<void>((resolve, reject) => {
      /** Reads issued, in file order; each is written out once it and all before it are done. */
      const slots: Array<{ buffer: Buffer; done: boolean }> = [];
      const spare: Buffer[] = [];
      const bufferSize = Math.min(this.chunkSize, this.end - this.start);
      let made = 0;
      let ended = false;
      let settled = false;

      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        out.off('finish', onFinish);
        out.off('close', onClose);
        out.off('error', onError);
        this.destroy();
        if (err) reject(err);
        else resolve();
      };
      const onFinish = () => settle(null);
      const onClose = () => settle(out.writableFinished ? null : Object.assign(new Error('the destination closed before the end'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      const onError = (err: Error) => settle(err);
      out.once('finish', onFinish);
      out.once('close', onClose);
      out.once('error', onError);

      const pump = () => {
        if (settled) return;
        while (slots.length > 0 && slots[0].done) {
          const { buffer } = slots.shift() as { buffer: Buffer };
          const whole = buffer.length === bufferSize;
          out.write(buffer, (err) => {
            if (err) return;
            // a partial last chunk is a view on a pool buffer; only whole ones go back
            if (whole) spare.push(buffer);
            pump();
          });
        }
        while (this.inFlight < READ_AHEAD_CHUNKS && this.position < this.end) {
          let buffer = spare.pop();
          if (buffer === undefined) {
            if (made === WRITE_TO_BUFFERS) break;
            buffer = Buffer.allocUnsafeSlow(bufferSize);
            made++;
          }
          const size = Math.min(bufferSize, this.end - this.position);
          const slot = { buffer: size === buffer.length ? buffer : buffer.subarray(0, size), done: false };
          slots.push(slot);
          this.readAt(this.position, slot.buffer).then(
            () => {
              slot.done = true;
              pump();
            },
            (err: unknown) => {
              const error = this.toError(err);
              out.destroy(error);
              settle(error);
            },
          );
          this.position += size;
        }
        if (!ended && this.position >= this.end && slots.length === 0) {
          ended = true;
          out.end();
        }
      };
      if (out.destroyed) onClose();
      else pump();
    });
  }

  /** A positional read, counted so that the descriptor is closed only once no read is in flight. */
  private async readAt(position: number, into: Buffer): Promise<Buffer> {
    this.inFlight++;
    try {
      return await readExactly(this.fd, position, into);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0 && this.onIdle) this.onIdle();
    }
  }
}

/**
 * A read stream closes its descriptor when it ends, fails or is destroyed. One dropped by its reader
 * without that would keep the descriptor (and a deleted file's space) forever; a FileHandle would
 * close on garbage collection, and this gives the plain descriptor the same safety net.
 */
const abandonedReads = new FinalizationRegistry<number>((fd) => closeFd(fd, () => undefined));

export function closeIfAbandoned(body: Readable, fd: number): void {
  abandonedReads.register(body, fd, body);
  // from here on the number may belong to another file
  body.once('close', () => abandonedReads.unregister(body));
}

/** Ranges are a caller contract (resolved against the size first), so a bad one is a programming error. */
export function checkRange(range: ByteRange, size: number): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end >= size) {
    throw new RangeError(`byte range ${start}-${end} is not within an object of ${size} bytes`);
  }
}
