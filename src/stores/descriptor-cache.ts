import { close as closeFd, fstat as fstatFd, open as openFd, stat as statPath, type Stats } from 'node:fs';
import { fsCall } from './filesystem-reads';

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

export interface DescriptorLease {
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
export class DescriptorCache {
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
