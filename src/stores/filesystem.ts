import { randomUUID } from 'node:crypto';
import { close as closeFd, createReadStream, fstat as fstatFd, open as openFd, read as readFd, type Stats } from 'node:fs';
import { mkdir, open, opendir, rename, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import type { FilesystemStoreConfig } from '../config/types';
import { abortedError, pipeMeasured } from '../lib/measure';
import { assertValidKey, StoreError, type BlobReadResult, type BlobStore, type ByteRange, type PutOptions, type PutResult } from './blob-store';
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
 * SMALL_READ_BYTES is one positional read returned as a one-chunk stream; larger reads stream in
 * chunks of at least MIN_STREAM_CHUNK_BYTES.
 */
export class FilesystemStore implements BlobStore {
  readonly id: string;
  readonly type = 'file' as const;
  readonly description?: string;
  private readonly dataDir: string;
  private readonly tempDir: string;
  private readonly chunkSize: number;

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
    // plain descriptors, not FileHandles: a small range read is four threadpool trips and the
    // promise API adds bookkeeping to each
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
        const data = await readExactly(fd, start, length).catch((err: unknown) => {
          throw this.fsError(err, 'get', key);
        });
        return { body: oneChunk(data), length, totalSize };
      }
      const body = createReadStream('', { fd, start, end: start + length - 1, highWaterMark: this.streamChunkSize() });
      closeIfAbandoned(body, fd);
      handedOver = true;
      return { body, length, totalSize };
    } finally {
      // nobody waits for the close of a descriptor that was only read
      if (!handedOver) closeFd(fd, () => undefined);
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

  async close(): Promise<void> {}

  private streamChunkSize(): number {
    return Math.max(this.chunkSize, MIN_STREAM_CHUNK_BYTES);
  }

  private pathOf(key: string): string {
    assertValidKey(key, this.id);
    if (key === TEMP_DIR || key.startsWith(`${TEMP_DIR}/`)) {
      throw new StoreError('invalid_key', `object keys may not start with ${TEMP_DIR}`, this.id);
    }
    return join(this.dataDir, ...key.split('/'));
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

/** Reads exactly `length` bytes at `position`; fails when the file ends first. */
async function readExactly(fd: number, position: number, length: number): Promise<Buffer> {
  const data = Buffer.allocUnsafe(length);
  let offset = 0;
  while (offset < length) {
    const bytesRead = await fsCall<number>((done) => readFd(fd, data, offset, length - offset, position + offset, done));
    if (bytesRead === 0) throw new Error(`file ended after ${offset} of ${length} bytes at ${position}: truncated while read`);
    offset += bytesRead;
  }
  return data;
}

/** A stream that delivers `data` as its only chunk. */
function oneChunk(data: Buffer): Readable {
  const body = new Readable({ read() {} });
  if (data.length > 0) body.push(data);
  body.push(null);
  return body;
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
