import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContentDigests, ContentHasher } from '../lib/content-hasher';
import { createThreadedContentHasher } from '../lib/threaded-hasher';
import { noteStreamedBytes } from '../lib/gc-pacer';
import { StoreError, type PutResult } from './blob-store';

export interface MeasureOptions {
  /** Carried by the StoreErrors raised here. */
  storeId: string;
  /** Exact byte count the source must deliver. */
  expectedSize?: number;
  /** Most bytes accepted. */
  maxSize?: number;
  signal?: AbortSignal;
  /** Defaults to both digests on the calling thread. */
  hasher?: ContentHasher;
}

/**
 * Pass-through that counts, hashes and limits the bytes on their way to a store, in one pass.
 *
 * Fails with StoreError `size_mismatch` as soon as more than `expectedSize` bytes arrive (and when
 * the input ends short of it), `too_large` as soon as more than `maxSize` bytes arrive, and
 * `aborted` when `signal` fires. A chunk that crosses a limit is not passed on.
 */
export class MeasureStream extends Transform {
  private readonly options: MeasureOptions;
  private readonly hasher: ContentHasher;
  private received = 0;
  private digests: ContentDigests | undefined;
  private readonly onAbort = (): void => {
    this.destroy(abortedError(this.options.storeId));
  };

  constructor(options: MeasureOptions) {
    super();
    this.options = options;
    // uploads hash md5 and sha512 on worker threads
    this.hasher = options.hasher ?? createThreadedContentHasher();
    if (options.signal?.aborted) {
      process.nextTick(this.onAbort);
    } else {
      options.signal?.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  get bytesReceived(): number {
    return this.received;
  }

  /** What went through; only once the stream has ended. */
  result(): PutResult {
    if (this.digests === undefined) {
      throw new StoreError('unavailable', 'measured stream did not complete', this.options.storeId);
    }
    return { size: this.received, ...this.digests };
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const { expectedSize, maxSize, storeId } = this.options;
    const total = this.received + chunk.length;
    const overExpected = expectedSize !== undefined && total > expectedSize;
    const overMax = maxSize !== undefined && total > maxSize;
    // when one chunk crosses both, the lower limit was crossed first, however the input was chunked
    if (overMax && (!overExpected || maxSize < expectedSize)) {
      callback(new StoreError('too_large', `received more than the allowed ${maxSize} bytes`, storeId));
      return;
    }
    if (overExpected) {
      callback(new StoreError('size_mismatch', `received more than the expected ${expectedSize} bytes`, storeId));
      return;
    }
    this.received = total;
    noteStreamedBytes(chunk.length);
    const pending = this.hasher.update(chunk);
    if (pending === undefined) {
      callback(null, chunk);
    } else {
      pending.then(() => callback(null, chunk), callback);
    }
  }

  override _flush(callback: TransformCallback): void {
    const { expectedSize, storeId } = this.options;
    if (expectedSize !== undefined && this.received !== expectedSize) {
      callback(new StoreError('size_mismatch', `received ${this.received} of the expected ${expectedSize} bytes`, storeId));
      return;
    }
    this.hasher.digest().then((digests) => {
      this.digests = digests;
      callback();
    }, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.hasher.destroy();
    callback(error);
  }
}

/**
 * Reads a MeasureStream to its end and resolves once everything it read is durably handed over,
 * or rejects once it has stopped all its work (in-flight requests settled, partial state removed).
 */
export type MeasuredConsumer = (body: MeasureStream) => Promise<void>;

/**
 * Streams `source` through a MeasureStream into `sink` and resolves with the size and digests.
 *
 * On failure it rejects with the root cause: the source's own error, the MeasureStream's StoreError,
 * or the sink's error; never with the secondary errors the other side sees. It settles only after
 * the source and measure are destroyed and, for a consumer function, after the consumer settled.
 * The source is destroyed on failure, as `pipeline` does.
 */
export async function pipeMeasured(source: Readable, sink: Writable | MeasuredConsumer, options: MeasureOptions): Promise<PutResult> {
  if (options.signal?.aborted) throw abortedError(options.storeId);
  const measure = new MeasureStream(options);
  if (typeof sink !== 'function') {
    await pipeline(source, measure, sink);
    return measure.result();
  }

  // A consumer that gives up may destroy the body without an error (an async iterator's return()),
  // which would make pipeline report a premature close. So the consumer runs beside the pipeline and
  // its own failure is told apart from a relayed body failure by identity.
  let consumerFailed = false;
  let consumerError: unknown;
  const upstream = pipeline(source, measure);
  const consumer = sink(measure).then(
    () => {
      if (!measure.readableEnded) {
        consumerFailed = true;
        consumerError = new StoreError('unavailable', 'backend stopped reading before the end', options.storeId);
        measure.destroy(consumerError as Error);
      }
    },
    (err: unknown) => {
      if (err === measure.errored) return;
      consumerFailed = true;
      consumerError = err;
      measure.destroy(err instanceof Error ? err : new Error(String(err)));
    },
  );
  const [up] = await Promise.allSettled([upstream, consumer]);
  if (consumerFailed) throw consumerError;
  if (up.status === 'rejected') throw up.reason;
  return measure.result();
}

export function abortedError(storeId: string): StoreError {
  return new StoreError('aborted', 'upload aborted', storeId);
}
