import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { StoreError } from './blob-store';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface FileSinkLimits {
  /** Chunks are gathered until at least this many bytes can go out in one `writev`. */
  batchBytes: number;
  /** Batches being written at once; the writes are positional, so they may finish in any order. */
  maxWritesInFlight: number;
  /** Bytes accepted but not yet written (gathered plus in flight) before the sink asks for a pause. */
  maxHeldBytes: number;
  /**
   * An fdatasync starts each time this many more bytes have been written, beside the writes that
   * follow, so the fsync at the end has only the tail left to flush. 0 turns it off.
   */
  syncIntervalBytes: number;
}

/**
 * 512 KiB batches turn a GiB into 2,048 threadpool writes instead of 16,384 at 64 KiB; two in
 * flight keep the threadpool busy while the next batch gathers. At most 2 MiB per upload wait in
 * memory: the page cache takes a batch in well under a millisecond, so holding more only keeps
 * request chunks alive longer, and a chunk that lives through two of the GC pacer's scavenges
 * (lib/gc-pacer) is promoted and left for a full collection. Without the periodic fdatasync a
 * 1 GiB upload spent over a second in its final fsync.
 */
export const DEFAULT_FILE_SINK_LIMITS: Readonly<FileSinkLimits> = Object.freeze({
  batchBytes: 512 * KiB,
  maxWritesInFlight: 2,
  maxHeldBytes: 2 * MiB,
  syncIntervalBytes: 64 * MiB,
});

/**
 * Periodic fdatasyncs running in this process, across all sinks. Each one holds a threadpool
 * thread until the disk has the data, so several uploads must not take the whole (default
 * four-thread) pool that file reads, opens and DNS lookups share: a sink that finds the limit
 * reached tries again after its next write.
 */
const MAX_PERIODIC_SYNCS = 1;
let periodicSyncs = 0;

/** The part of a FileHandle the sink uses. */
export type FileSinkTarget = Pick<FileHandle, 'writev' | 'datasync' | 'sync'>;

/**
 * Writes a stream into an open (empty) file from offset 0 and fsyncs it at the end; it neither
 * opens nor closes the file. Chunks are gathered into batches of `batchBytes` and each batch is
 * written with one positional `writev`, up to `maxWritesInFlight` at a time while more data
 * arrives; the write callback is held back while `maxHeldBytes` or more are not yet written.
 * The stream finishes only after every write, the final `sync()` included, has succeeded.
 *
 * Every error it reports has gone through `mapError` (so a failed put can tell the store's own
 * failures from the source's). The first failed write or datasync fails the stream at once,
 * through the held-back write callback or by destroying it, and no write starts after that.
 * A stream that fails or is destroyed may still have writes running: `settled()` resolves once
 * none is left, which the owner must wait for before it closes or removes the file.
 */
export class FileSink extends Writable {
  private readonly limits: FileSinkLimits;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  /** File offset of the batch's first byte. */
  private position = 0;
  /** Bytes accepted and not yet written: the batch plus the writes in flight. */
  private heldBytes = 0;
  private writtenBytes = 0;
  private writesInFlight = 0;
  private syncing = false;
  private nextSyncAt: number;
  private ending = false;
  /** Set on the first failure or a destroy: nothing new starts. */
  private stopped = false;
  private failure: StoreError | null = null;
  /** The write callback held back while too many bytes are held. */
  private paused: ((error?: Error | null) => void) | null = null;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly target: FileSinkTarget,
    private readonly mapError: (err: unknown) => StoreError,
    limits: Partial<FileSinkLimits> = {},
  ) {
    super();
    this.limits = { ...DEFAULT_FILE_SINK_LIMITS, ...limits };
    this.nextSyncAt = this.limits.syncIntervalBytes;
  }

  /** Resolves once no write or sync is running; never rejects. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled(this.running);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.failure) {
      callback(this.failure);
      return;
    }
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    this.heldBytes += chunk.length;
    this.pump();
    if (this.heldBytes < this.limits.maxHeldBytes) callback();
    else this.paused = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.ending = true;
    this.pump();
    this.settled()
      .then(() => {
        if (this.failure) throw this.failure;
        return this.target.sync();
      })
      .then(
        () => callback(),
        (err: unknown) => callback(this.mapError(err)),
      );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stopped = true;
    this.batch = [];
    this.paused = null;
    void this.settled().then(() => callback(error));
  }

  /** Starts batch writes while there is a full batch (any batch once ending) and a free slot. */
  private pump(): void {
    const { batchBytes, maxWritesInFlight } = this.limits;
    while (!this.stopped && this.writesInFlight < maxWritesInFlight && (this.batchBytes >= batchBytes || (this.ending && this.batchBytes > 0))) {
      const buffers = this.batch;
      const bytes = this.batchBytes;
      const position = this.position;
      this.batch = [];
      this.batchBytes = 0;
      this.position += bytes;
      this.writesInFlight++;
      this.track(
        writeFully(this.target, buffers, position).then(
          () => {
            this.writesInFlight--;
            this.heldBytes -= bytes;
            this.writtenBytes += bytes;
            this.maybeSync();
            this.pump();
            this.resume();
          },
          (err: unknown) => {
            this.writesInFlight--;
            this.fail(err);
          },
        ),
      );
    }
  }

  /** Starts an fdatasync when another interval's worth has been written and none is running. */
  private maybeSync(): void {
    const interval = this.limits.syncIntervalBytes;
    if (interval <= 0 || this.syncing || this.stopped || this.ending || this.writtenBytes < this.nextSyncAt) return;
    if (periodicSyncs >= MAX_PERIODIC_SYNCS) return;
    periodicSyncs++;
    this.syncing = true;
    this.nextSyncAt = this.writtenBytes + interval;
    const done = (): void => {
      periodicSyncs--;
      this.syncing = false;
    };
    this.track(
      this.target.datasync().then(
        () => {
          done();
          this.maybeSync();
        },
        (err: unknown) => {
          done();
          this.fail(err);
        },
      ),
    );
  }

  private resume(): void {
    const paused = this.paused;
    if (paused === null || this.heldBytes >= this.limits.maxHeldBytes) return;
    this.paused = null;
    paused();
  }

  /** Fails the stream with the first error: through the held-back callback, or by destroying it. */
  private fail(err: unknown): void {
    if (this.stopped) return;
    this.failure = this.mapError(err);
    this.stopped = true;
    this.batch = [];
    const paused = this.paused;
    this.paused = null;
    if (paused) paused(this.failure);
    // once ending, _final is waiting for the writes and reports the failure itself
    else if (!this.ending) this.destroy(this.failure);
  }

  private track(operation: Promise<void>): void {
    this.running.add(operation);
    void operation.finally(() => this.running.delete(operation));
  }
}

/** Writes every byte of `buffers` at `position`, resuming after a short write. */
async function writeFully(target: FileSinkTarget, buffers: Buffer[], position: number): Promise<void> {
  let pending = buffers;
  while (pending.length > 0) {
    const { bytesWritten } = await target.writev(pending, position);
    if (bytesWritten <= 0) throw new Error(`writev at ${position} wrote nothing`);
    position += bytesWritten;
    pending = dropBytes(pending, bytesWritten);
  }
}

/** `buffers` without their first `count` bytes. */
function dropBytes(buffers: Buffer[], count: number): Buffer[] {
  let i = 0;
  while (i < buffers.length && count >= buffers[i].length) count -= buffers[i++].length;
  const rest = buffers.slice(i);
  if (count > 0) rest[0] = rest[0].subarray(count);
  return rest;
}
