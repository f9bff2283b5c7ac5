import { randomUUID } from 'node:crypto';
import { close as closeFd, fstat as fstatFd, open as openFd, type Stats } from 'node:fs';
import { mkdir, open, opendir, rename, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { FilesystemStoreConfig } from '../config/types';
import type { ByteRange } from '../lib/byte-range';
import {
  assertValidKey,
  StoreError,
  type BlobReadResult,
  type BlobStore,
  type FileStoreDetails,
  type PutOptions,
  type PutResult,
  type SweepOptions,
} from './blob-store';
import { DescriptorCache } from './descriptor-cache';
import { FileSink } from './file-sink';
import { filesystemError, isErrno, notFoundError, type FsOperation } from './filesystem-errors';
import { checkRange, closeIfAbandoned, FileRangeStream, fsCall, InMemoryRead, readExactly } from './filesystem-reads';
import { abortedError, pipeMeasured } from './measure';

/**
 * Uploads in progress live here as `<uuid>+<key, '/' as '+'>` (just `<uuid>` when that is too
 * long for a file name); never listed, never a valid key. The key in the name lets
 * sweepTemporary ask whether the put that owns a file may still be running.
 */
const TEMP_DIR = '.tmp';
/** Longest temp file name that still carries its key (NAME_MAX is 255 on Linux filesystems). */
const MAX_TEMP_NAME = 255;
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

/**
 * Objects are plain files at `<dataDir>/<key>`, the layout Glance's filesystem store uses for
 * `<datadir>/<image id>`. A put writes `<dataDir>/.tmp/<random>` through a FileSink (batched
 * positional writes, periodic fdatasync), fsyncs it and renames it over the key. A read of up to
 * SMALL_READ_BYTES is one positional read, returned as `bytes` (and as a one-chunk stream), small
 * ranges through a cache of open descriptors; larger reads stream in chunks of at least
 * MIN_STREAM_CHUNK_BYTES, or write themselves into an HTTP response (`writeTo`). A full disk or
 * quota (ENOSPC, EDQUOT) fails a put with `storage_full`, its temporary file removed.
 *
 * Its parts: file-sink.ts (the write path), filesystem-reads.ts (reads from an open descriptor),
 * descriptor-cache.ts (descriptors kept open for small ranges), filesystem-errors.ts (errno →
 * StoreError).
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
    const tempPath = join(this.tempDir, tempName(key));
    let handle: FileHandle | undefined;
    let sink: FileSink | undefined;
    let committed = false;
    try {
      await makeDirectory(this.tempDir).catch((err: unknown) => {
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

  async localPath(key: string): Promise<string> {
    await this.stat(key);
    return this.pathOf(key);
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

  async lastModified(key: string): Promise<Date> {
    const path = this.pathOf(key);
    const info = await stat(path).catch((err: unknown) => {
      throw this.fsError(err, 'stat', key);
    });
    if (!info.isFile()) throw this.notFound(key);
    return info.mtime;
  }

  async sweepTemporary({ olderThan, inUse }: SweepOptions): Promise<number> {
    let entries;
    try {
      entries = await opendir(this.tempDir);
    } catch (err) {
      if (isErrno(err, 'ENOENT', 'ENOTDIR')) return 0;
      throw this.fsError(err, 'list', TEMP_DIR);
    }
    let removed = 0;
    for await (const entry of entries) {
      const path = join(this.tempDir, entry.name);
      // a live put writes at least every few hundred KiB, moving the mtime on
      const info = await stat(path).catch(() => null);
      if (info === null || info.mtime >= olderThan) continue;
      const key = keyOfTempName(entry.name);
      if (key !== null && inUse && (await inUse(key))) continue;
      try {
        await unlink(path);
        removed++;
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw this.fsError(err, 'delete', TEMP_DIR);
      }
    }
    return removed;
  }

  details(): FileStoreDetails {
    // every byte is written, zeros included
    return { type: 'file', dataDir: this.dataDir, chunkSize: this.chunkSize, sparseFiles: false };
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
        await makeDirectory(dirname(target));
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
    return notFoundError(key, this.id);
  }

  /** Any failure of a filesystem call, as a StoreError (ENOSPC and EDQUOT: `storage_full`). */
  private fsError(err: unknown, operation: FsOperation, key: string): StoreError {
    return filesystemError(err, { storeId: this.id, dataDir: this.dataDir, operation, key });
  }
}

function tempName(key: string): string {
  const name = `${randomUUID()}+${key.replaceAll('/', '+')}`;
  return name.length <= MAX_TEMP_NAME ? name : randomUUID();
}

/** The key a temp file name carries, or null (a name without one, or not made by tempName). */
function keyOfTempName(name: string): string | null {
  const plus = name.indexOf('+');
  return plus === 36 && plus < name.length - 1 ? name.slice(plus + 1).replaceAll('+', '/') : null;
}

/**
 * `mkdir -p`. Node's recursive mkdir can report ENOENT when a directory could not be made for
 * another reason (on Node 20, a full disk: ENOSPC), so after an ENOENT the directories are made one
 * by one, which either succeeds or fails with the real cause.
 */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    for (let end = dir.indexOf(sep, 1); ; end = dir.indexOf(sep, end + 1)) {
      await mkdir(end === -1 ? dir : dir.slice(0, end)).catch((cause: unknown) => {
        if (!isErrno(cause, 'EEXIST')) throw cause;
      });
      if (end === -1) return;
    }
  }
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

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (info) => info.isDirectory(),
    () => false,
  );
}
