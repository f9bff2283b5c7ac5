import { randomUUID } from 'node:crypto';
import { close as closeFd, fstat as fstatFd, open as openFd, read as readFd, stat as statPath, type Stats } from 'node:fs';
import { mkdir, open, opendir, rename, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import type { FilesystemStoreConfig } from '../config/types';
import { abortedError, pipeMeasured } from '../lib/measure';
import { assertValidKey, StoreError, type BlobReadResult, type BlobStore, type ByteRange, type PutOptions, type PutResult, type SelfWritingBody } from './blob-store';
import { FileSink } from './file-sink';

/** Uploads in progress live here under random names; never listed, never a valid key. */
const TEMP_DIR = '.tmp';
/** Commit retries when a concurrent delete prunes the parent directory between mkdir and rename. */
const RENAME_ATTEMPTS = 3;

const KiB = 1024;
const MiB = 1024 * KiB;
/**
 * Reads up to this many bytes (a range, or a whole small object) are served by one positional read
 * into one buffer: no read stream, no second trip through the threadpool.
 */
export const SMALL_READ_BYTES = 256 * KiB;
/**
 * Larger reads go in chunks of at least this size whatever `filesystem_store_chunk_size` says:
 * every chunk costs a threadpool round trip and a socket write, and at Glance's 64 KiB default
 * those dominate a download.
 */
export const MIN_STREAM_CHUNK_BYTES = MiB;

type FsOperation = 'put' | 'get' | 'stat' | 'delete' | 'list';

/**
 * Objects are plain files at `<dataDir>/<key>`, the layout Glance's filesystem store uses for
 * `<datadir>/<image id>`. A put writes `<dataDir>/.tmp/<random>` through a FileSink (batched
 * positional writes, periodic fdatasync), fsyncs it and renames it over the key. A read of up to
 * SMALL_READ_BYTES is one positional read, returned as `bytes` (and as a one-chunk stream), small
 * ranges through a cache of open descriptors; larger reads stream in chunks of at least
 * MIN_STREAM_CHUNK_BYTES, or write themselves into an HTTP response (`writeTo`).
 */
export class FilesystemStore implements BlobStore {
  readonly id: string;
  readonly type = 'file' as const;
  readonly description?: string;
  private readonly dataDir: string;
  private readonly tempDir: string;
  private readonly chunkSize: number;
  private readonly descriptors = new DescriptorCache();

  constructor(config: FilesystemStoreConfig) {
    this.id = config.id;
    this.description = config.description ?? undefined;
    this.dataDir = resolve(config.dataDir);
    this.tempDir = join(this.dataDir, TEMP_DIR);
    this.chunkSize = config.chunkSize;
  }

  async put(key: string, source: Readable, options: PutOptions = {}): Promise<PutResult> {
    const target = this.pathOf(key);
    if (options.signal?.aborted) throw abortedError(this.id);
    const tempPath = join(this.tempDir, randomUUID());
    let handle: FileHandle | undefined;
    let sink: FileSink | undefined;
    let committed = false;
    try {
      await mkdir(this.tempDir, { recursive: true }).catch((err: unknown) => {
        throw this.fsError(err, 'put', key);
      });
      handle = await open(tempPath, 'wx', 0o644).catch((err: unknown) => {
        throw this.fsError(err, 'put', key);
      });
      sink = new FileSink(handle, (err) => this.fsError(err, 'put', key));
      const result = await pipeMeasured(source, sink, { ...options, storeId: this.id });
      await handle.close();
      handle = undefined;
      await this.commit(tempPath, target, key);
      committed = true;
      this.descriptors.forget(target);
      await syncDirectory(dirname(target));
      return result;
    } finally {
      // a failed pipeline does not wait for the sink's writes; they must be over before the unlink
      await sink?.settled();
      await handle?.close().catch(() => undefined);
      if (!committed) await rm(tempPath, { force: true }).catch(() => undefined);
    }
  }

  async get(key: string, range?: ByteRange): Promise<BlobReadResult> {
    const path = this.pathOf(key);
    if (range !== undefined && range.end - range.start + 1 <= SMALL_READ_BYTES) return this.readSmallRange(path, key, range);
    // plain descriptors, not FileHandles: a small read is four threadpool trips and the promise
    // API adds bookkeeping to each
    const fd = await fsCall<number>((done) => openFd(path, 'r', done)).catch((err: unknown) => {
      throw this.fsError(err, 'get', key);
    });
    let handedOver = false;
    try {
      const info = await fsCall<Stats>((done) => fstatFd(fd, done)).catch((err: unknown) => {
        throw this.fsError(err, 'get', key);
      });
      if (!info.isFile()) throw this.notFound(key);
      const totalSize = info.size;
      if (range !== undefined) checkRange(range, totalSize);
      const start = range?.start ?? 0;
      const length = range ? range.end - range.start + 1 : totalSize;
      if (length <= SMALL_READ_BYTES) {
        const data = await readExactly(fd, start, Buffer.allocUnsafe(length)).catch((err: unknown) => {
          throw this.fsError(err, 'get', key);
        });
        return new InMemoryRead(data, totalSize);
      }
      const body = new FileRangeStream(fd, start, length, this.streamChunkSize(), (err) => this.fsError(err, 'get', key));
      closeIfAbandoned(body, fd);
      handedOver = true;
      return { body, length, totalSize };
    } finally {
      // nobody waits for the close of a descriptor that was only read
      if (!handedOver) closeFd(fd, () => undefined);
    }
  }

  /** A range of up to SMALL_READ_BYTES, read through the descriptor cache. */
  private async readSmallRange(path: string, key: string, range: ByteRange): Promise<BlobReadResult> {
    const lease = await this.descriptors.acquire(path).catch((err: unknown) => {
      throw this.fsError(err, 'get', key);
    });
    if (lease === null) throw this.notFound(key);
    try {
      checkRange(range, lease.size);
      const data = await readExactly(lease.fd, range.start, Buffer.allocUnsafe(range.end - range.start + 1)).catch((err: unknown) => {
        throw this.fsError(err, 'get', key);
      });
      return new InMemoryRead(data, lease.size);
    } finally {
      lease.release();
    }
  }

  async stat(key: string): Promise<{ size: number }> {
    const path = this.pathOf(key);
    const info = await stat(path).catch((err: unknown) => {
      throw this.fsError(err, 'stat', key);
    });
    if (!info.isFile()) throw this.notFound(key);
    return { size: info.size };
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    this.descriptors.forget(path);
    try {
      await unlink(path);
    } catch (err) {
      // EISDIR/EPERM: the key names a directory of other keys, so no object exists under it
      if (isErrno(err, 'ENOENT', 'ENOTDIR', 'EISDIR') || (isErrno(err, 'EPERM') && (await isDirectory(path)))) return;
      throw this.fsError(err, 'delete', key);
    }
    await this.pruneEmptyParents(dirname(path));
  }

  async *list(prefix = ''): AsyncIterable<string> {
    yield* this.walk(this.dataDir, '', prefix);
  }

  detailProperties(): Record<string, unknown> {
    return { data_dir: this.dataDir, chunk_size: this.chunkSize, thin_provisioning: false };
  }

  async close(): Promise<void> {
    this.descriptors.close();
  }

  private streamChunkSize(): number {
    return Math.max(this.chunkSize, MIN_STREAM_CHUNK_BYTES);
  }

  private pathOf(key: string): string {
    assertValidKey(key, this.id);
    if (key === TEMP_DIR || key.startsWith(`${TEMP_DIR}/`)) {
      throw new StoreError('invalid_key', `object keys may not start with ${TEMP_DIR}`, this.id);
    }
    // a valid key has no empty, `.` or `..` segment: nothing for join() to normalise
    return sep === '/' && this.dataDir !== '/' ? `${this.dataDir}/${key}` : join(this.dataDir, ...key.split('/'));
  }

  private async commit(tempPath: string, target: string, key: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dirname(target), { recursive: true });
        await rename(tempPath, target);
        return;
      } catch (err) {
        if (isErrno(err, 'ENOENT') && attempt < RENAME_ATTEMPTS) continue;
        throw this.fsError(err, 'put', key);
      }
    }
  }

  /** Removes directories left empty by a delete, up to (not including) the data dir. */
  private async pruneEmptyParents(dir: string): Promise<void> {
    while (dir.startsWith(this.dataDir + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return;
      }
      dir = dirname(dir);
    }
  }

  private async *walk(dir: string, relative: string, prefix: string): AsyncGenerator<string> {
    let entries;
    try {
      entries = await opendir(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return;
      throw this.fsError(err, 'list', relative);
    }
    for await (const entry of entries) {
      if (relative === '' && entry.name === TEMP_DIR) continue;
      const key = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(join(dir, entry.name), key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix)) {
        yield key;
      }
    }
  }

  private notFound(key: string): StoreError {
    return new StoreError('not_found', `no object under ${JSON.stringify(key)}`, this.id);
  }

  private fsError(err: unknown, operation: FsOperation, key: string): StoreError {
    if (err instanceof StoreError) return err;
    const code = errnoCode(err);
    const where = `${operation} ${JSON.stringify(key)} in ${this.dataDir}`;
    if (operation !== 'put' && (code === 'ENOENT' || code === 'ENOTDIR')) return this.notFound(key);
    if (operation === 'put' && (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR')) {
      return new StoreError('invalid_key', `${where}: key conflicts with an existing key's path (${code})`, this.id, { cause: err });
    }
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return new StoreError(operation === 'put' || operation === 'delete' ? 'write_denied' : 'unavailable', `${where}: ${code}`, this.id, { cause: err });
    }
    // Glance answers StorageFull with 413, the status too_large maps to
    if (code === 'ENOSPC' || code === 'EDQUOT') return new StoreError('too_large', `${where}: storage full (${code})`, this.id, { cause: err });
    return new StoreError('unavailable', `${where}: ${code ?? String(err)}`, this.id, { cause: err });
  }
}

/** Fills `into` with the bytes at `position`; fails when the file ends first. */
async function readExactly(fd: number, position: number, into: Buffer): Promise<Buffer> {
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
class InMemoryRead implements BlobReadResult {
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
class FileRangeStream extends Readable implements SelfWritingBody {
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

/** Most descriptors a store keeps open for small reads. */
export const DESCRIPTOR_CACHE_ENTRIES = 128;
/** A cached descriptor unused this long is closed. */
export const DESCRIPTOR_IDLE_MS = 10_000;
/** A cached descriptor checked against its path this recently is used without checking again. */
export const DESCRIPTOR_REVALIDATE_MS = 1_000;

interface CachedDescriptor {
  readonly fd: number;
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  /** Reads using the descriptor now; it is closed only when none is and it left the cache. */
  users: number;
  lastUsed: number;
  /** When the path was last seen to name this file, unchanged. */
  validatedAt: number;
  cached: boolean;
}

interface DescriptorLease {
  readonly fd: number;
  readonly size: number;
  release(): void;
}

/**
 * Descriptors of files recently read by small ranges, kept open as nginx's open_file_cache keeps
 * them: a read through the cache costs the read alone, one threadpool trip, where it would cost
 * open, fstat, read and close.
 *
 * Once per DESCRIPTOR_REVALIDATE_MS a read first stats the path to learn whether it still names
 * the same file, unchanged (device, inode, size, mtime); a file replaced or removed is then opened
 * afresh or reported missing. In between, the descriptor is trusted: glint never changes a stored
 * object in place (objects are written under a temporary name and renamed into place), puts and
 * deletes through this store drop the entry at once, and every download is checked against the
 * catalog before it reads. So only a change made to the file outside this store (another process
 * or node writing the same path) is seen up to that much later. Without the stat on every read
 * (a second threadpool trip), glint served about 7 % more small Range GETs per second.
 *
 * An entry unused for DESCRIPTOR_IDLE_MS (checked every half of that), or beyond
 * DESCRIPTOR_CACHE_ENTRIES, is closed, so a file deleted elsewhere and not read since keeps its
 * space about that long. A descriptor is closed only when no read uses it, so its number is never
 * reused under a read.
 */
class DescriptorCache {
  /** By path, least recently used first. */
  private readonly entries = new Map<string, CachedDescriptor>();
  private sweeper: NodeJS.Timeout | null = null;
  private closed = false;

  /** The open file at `path` with its size; null when the path is not a regular file. */
  async acquire(path: string): Promise<DescriptorLease | null> {
    const cached = this.entries.get(path);
    if (cached !== undefined) {
      cached.users++;
      const now = Date.now();
      if (now - cached.validatedAt < DESCRIPTOR_REVALIDATE_MS) return this.reuse(path, cached, now);
      let info: Stats;
      try {
        info = await fsCall<Stats>((done) => statPath(path, done));
      } catch (err) {
        this.forget(path, cached);
        this.release(cached);
        throw err;
      }
      if (info.isFile() && info.dev === cached.dev && info.ino === cached.ino && info.size === cached.size && info.mtimeMs === cached.mtimeMs) {
        cached.validatedAt = now;
        return this.reuse(path, cached, now);
      }
      this.forget(path, cached);
      this.release(cached);
    }
    const fd = await fsCall<number>((done) => openFd(path, 'r', done));
    let info: Stats;
    try {
      info = await fsCall<Stats>((done) => fstatFd(fd, done));
    } catch (err) {
      closeFd(fd, () => undefined);
      throw err;
    }
    if (!info.isFile()) {
      closeFd(fd, () => undefined);
      return null;
    }
    const now = Date.now();
    const entry: CachedDescriptor = { fd, dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, users: 1, lastUsed: now, validatedAt: now, cached: false };
    if (!this.closed && !this.entries.has(path)) {
      entry.cached = true;
      this.entries.set(path, entry);
      if (this.entries.size > DESCRIPTOR_CACHE_ENTRIES) {
        const [oldest] = this.entries.keys();
        this.forget(oldest);
      }
      this.sweeper ??= setInterval(() => this.sweep(), DESCRIPTOR_IDLE_MS / 2).unref();
    }
    return this.lease(entry);
  }

  /** Drops the entry for `path` (only if it is `only`, when given); its descriptor closes once no read uses it. */
  forget(path: string, only?: CachedDescriptor): void {
    const entry = this.entries.get(path);
    if (entry === undefined || (only !== undefined && entry !== only)) return;
    this.entries.delete(path);
    entry.cached = false;
    if (entry.users === 0) closeFd(entry.fd, () => undefined);
    if (this.entries.size === 0) this.stopSweeper();
  }

  close(): void {
    this.closed = true;
    for (const path of [...this.entries.keys()]) this.forget(path);
    this.stopSweeper();
  }

  /** Leases a cached entry (its user count already taken) and marks it the most recently used. */
  private reuse(path: string, entry: CachedDescriptor, now: number): DescriptorLease {
    entry.lastUsed = now;
    if (entry.cached) {
      this.entries.delete(path);
      this.entries.set(path, entry);
    }
    return this.lease(entry);
  }

  private lease(entry: CachedDescriptor): DescriptorLease {
    let released = false;
    return {
      fd: entry.fd,
      size: entry.size,
      release: () => {
        if (released) return;
        released = true;
        this.release(entry);
      },
    };
  }

  private release(entry: CachedDescriptor): void {
    entry.users--;
    if (entry.users === 0 && !entry.cached) closeFd(entry.fd, () => undefined);
  }

  private sweep(): void {
    const idleSince = Date.now() - DESCRIPTOR_IDLE_MS;
    for (const [path, entry] of this.entries) if (entry.users === 0 && entry.lastUsed < idleSince) this.forget(path);
  }

  private stopSweeper(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}

/**
 * A read stream closes its descriptor when it ends, fails or is destroyed. One dropped by its reader
 * without that would keep the descriptor (and a deleted file's space) forever; a FileHandle would
 * close on garbage collection, and this gives the plain descriptor the same safety net.
 */
const abandonedReads = new FinalizationRegistry<number>((fd) => closeFd(fd, () => undefined));

function closeIfAbandoned(body: Readable, fd: number): void {
  abandonedReads.register(body, fd, body);
  // from here on the number may belong to another file
  body.once('close', () => abandonedReads.unregister(body));
}

/** Promise around a callback-style fs call. */
function fsCall<T>(call: (done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    call((err, value) => (err ? reject(err) : resolvePromise(value)));
  });
}

/** Makes a rename durable. Best effort: the object is already committed when this runs. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // some filesystems refuse fsync on directories
  }
}

/** Ranges are a caller contract (resolved against the size first), so a bad one is a programming error. */
function checkRange(range: ByteRange, size: number): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end >= size) {
    throw new RangeError(`byte range ${start}-${end} is not within an object of ${size} bytes`);
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = errnoCode(err);
  return code !== undefined && codes.includes(code);
}
