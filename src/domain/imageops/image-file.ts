import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat, statfs } from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../../lib/logger';
import type { StoreRegistry } from '../../stores/registry';
import type { Image } from '../image';

/** Prefix of every scratch folder the imageops jobs make in the temp directory. */
const SCRATCH_PREFIX = 'glint-imageops-';

/**
 * Where the imageops jobs put files: one scratch folder per job run under the configured temp
 * directory, removed in `finally` whatever happens; qemu-img never reads a path a client gave.
 */
export class ImageFiles {
  constructor(
    private readonly deps: { stores: StoreRegistry; tempDir: string; logger: Logger },
  ) {}

  /**
   * Runs `use` with a scratch folder of its own, removed (with everything in it) when `use`
   * settles — after a success, a failure, a time-out or an abort alike.
   */
  async withScratch<T>(use: (dir: string) => Promise<T>): Promise<T> {
    await mkdir(this.deps.tempDir, { recursive: true });
    const dir = path.join(this.deps.tempDir, `${SCRATCH_PREFIX}${randomUUID()}`);
    await mkdir(dir);
    try {
      return await use(dir);
    } finally {
      await rm(dir, { recursive: true, force: true }).catch((err: unknown) => this.deps.logger.error('imageops: scratch folder not removed', { dir, error: String(err) }));
    }
  }

  /**
   * A file holding `image`'s data for qemu-img: a filesystem store's own file, or else a copy
   * streamed from the store into `scratch` (named after the image, so qemu-img's `filename` is
   * the image id either way). Throws when no location can be read.
   */
  async fileOf(image: Image, scratch: string, signal: AbortSignal): Promise<string> {
    let lastError: unknown = new Error(`Image ${image.id} has no data.`);
    for (const location of image.locations) {
      const store = this.deps.stores.get(location.storeId);
      if (!store) continue;
      try {
        if (store.localPath) return await store.localPath(location.key);
        const copy = path.join(scratch, image.id);
        const { body } = await store.get(location.key);
        await pipeline(body, createWriteStream(copy), { signal });
        return copy;
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        lastError = err;
        this.deps.logger.warn('imageops: image location unreadable', { imageId: image.id, storeId: location.storeId, error: String(err) });
      }
    }
    throw lastError;
  }

  /** Bytes free and in total on the temp directory's filesystem. */
  async space(): Promise<{ free: number; total: number }> {
    await mkdir(this.deps.tempDir, { recursive: true });
    const fs = await statfs(this.deps.tempDir);
    return { free: fs.bavail * fs.bsize, total: fs.blocks * fs.bsize };
  }

  /**
   * Removes scratch folders a process that died left behind: those untouched for longer than
   * `olderThanMs` (no live job keeps one that long: its time-out kills it first).
   */
  async sweep(olderThanMs: number): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.deps.tempDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names.filter((n) => n.startsWith(SCRATCH_PREFIX))) {
      const dir = path.join(this.deps.tempDir, name);
      try {
        if (Date.now() - (await stat(dir)).mtimeMs < olderThanMs) continue;
        await rm(dir, { recursive: true, force: true });
        removed++;
      } catch {
        // another node sweeping the same directory removed it first
      }
    }
    return removed;
  }
}
