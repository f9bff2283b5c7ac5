import type { Logger } from '../lib/logger';
import type { BlobStore } from '../stores/blob-store';
import { isStoreError } from '../stores/blob-store';
import type { StoreRegistry } from '../stores/registry';
import type { ImageStatus } from './image';
import type { Catalog, StuckWrite } from './repositories';

export interface ReconcilerOptions {
  catalog: Pick<Catalog, 'images' | 'tasks'>;
  stores: StoreRegistry;
  logger: Logger;
  /** Between runs (ms; `[glint] reconcile_interval`). */
  intervalMs: number;
  /** Age before an unreferenced object or an idle temporary is deleted (ms; `orphan_grace_period`). */
  orphanGraceMs: number;
  /**
   * Sweeps of records that expire (abandoned chunked uploads), run on every run after the stuck
   * images; each must be safe on many nodes at once (conditional deletes). A failure is logged.
   */
  expirySweeps?: ReadonlyArray<{ name: string; sweep(now: Date): Promise<number> }>;
}

/** What one run did. */
export interface ReconcileReport {
  /** Images put back to queued: writes whose lease expired, imports whose task is gone or over. */
  recovered: number;
  /** Committed objects no catalog row referenced, deleted. */
  orphansDeleted: number;
  /** Temporaries of unfinished puts (temp files, multipart uploads), removed. */
  temporariesRemoved: number;
}

/** Statuses in which an image's key (or staging key) may be written or read by a live operation. */
const BUSY_STATUSES: readonly ImageStatus[] = ['saving', 'uploading', 'importing'];
/** Images looked at per run; more are left to the next run. */
const STUCK_BATCH = 500;
/** Keys asked about per catalog query. */
const KEY_BATCH = 500;
const STAGING_PREFIX = 'staging/';

/**
 * Puts right what dead or stalled nodes left behind; runs at start-up and every interval on every
 * node. Safe with any number of nodes running it at once: each image goes back through one
 * conditional update (only the run that wins it acts), and an object is only deleted once it is
 * older than the grace period, referenced by no catalog row, and its image is in no status a live
 * write or import could be in.
 *
 * - An image in saving or uploading whose write lease expired goes back to queued with size and
 *   virtual size cleared, as a failed upload leaves it. A staged image (uploading, no lease) is
 *   never touched.
 * - An image in importing whose import task is gone or finished goes back to queued, its
 *   locations and digests dropped (the objects become unreferenced and are swept).
 * - In every store, temporaries idle for the grace period (filesystem `.tmp` files, S3 multipart
 *   uploads) and committed objects older than it that nothing references are deleted. A sweep lists
 *   every object, so the timer sweeps at most every half grace period: an orphan goes between one
 *   and one and a half grace periods after it was written.
 */
export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ReconcileReport | null> | null = null;
  /** When the timer last swept the stores (0: never). */
  private sweptAt = 0;

  constructor(private readonly options: ReconcilerOptions) {}

  /** Runs now and then every interval until `stop()`. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.runInBackground(), this.options.intervalMs);
    this.timer.unref();
    void this.runInBackground();
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One run: stuck images first (their objects may become orphans), then, unless told not to, every store. */
  async runOnce(now = new Date(), options: { sweepStores?: boolean } = {}): Promise<ReconcileReport> {
    const report: ReconcileReport = { recovered: await this.recoverStuckImages(now), orphansDeleted: 0, temporariesRemoved: 0 };
    for (const expiring of this.options.expirySweeps ?? []) {
      await expiring.sweep(now).catch((err: unknown) => this.options.logger.warn('reconciler could not sweep expired records', { sweep: expiring.name, error: String(err) }));
    }
    if (options.sweepStores === false) return report;
    const cutoff = new Date(now.getTime() - this.options.orphanGraceMs);
    for (const store of this.options.stores.all()) {
      try {
        report.temporariesRemoved += await store.sweepTemporary({ olderThan: cutoff, inUse: (key) => this.keyBusy(key) });
        report.orphansDeleted += await this.sweepOrphans(store, cutoff);
      } catch (err) {
        this.options.logger.warn('reconciler could not sweep a store', { storeId: store.id, error: String(err) });
      }
    }
    return report;
  }

  private runInBackground(): Promise<ReconcileReport | null> {
    // one run at a time per node; a tick during a long run is skipped
    const now = new Date();
    const sweepStores = now.getTime() - this.sweptAt >= this.options.orphanGraceMs / 2;
    if (sweepStores && this.running === null) this.sweptAt = now.getTime();
    this.running ??= this.runOnce(now, { sweepStores })
      .then((report) => {
        if (report.recovered + report.orphansDeleted + report.temporariesRemoved > 0) this.options.logger.info('reconciler', { ...report });
        return report;
      })
      .catch((err: unknown) => {
        this.options.logger.warn('reconciler run failed', { error: String(err) });
        return null;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async recoverStuckImages(now: Date): Promise<number> {
    const stuck = await this.options.catalog.images.findStuckWrites(now, STUCK_BATCH);
    let recovered = 0;
    for (const image of stuck) {
      try {
        if (await this.recover(image, now)) recovered++;
      } catch (err) {
        this.options.logger.warn('reconciler could not recover an image', { imageId: image.id, status: image.status, error: String(err) });
      }
    }
    return recovered;
  }

  private async recover(image: StuckWrite, now: Date): Promise<boolean> {
    const { images, tasks } = this.options.catalog;
    if (image.status === 'importing') {
      if (image.importTask !== null) {
        const task = await tasks.get(image.importTask);
        // a pending or processing task is the job runner's: a dead node's claim expires and another resumes it
        if (task && (task.status === 'pending' || task.status === 'processing')) return false;
      }
      const reverted = await images.update(
        image.id,
        {
          attributes: { status: 'queued', size: null, virtualSize: null, checksum: null, osHashAlgo: null, osHashValue: null },
          removeProperties: ['os_glance_import_task'],
          setProperties: { os_glance_importing_to_stores: '' },
          removeLocationsInStores: this.options.stores.all().map((store) => store.id),
        },
        { status: 'importing', revision: image.revision },
      );
      if (reverted) this.options.logger.warn('import left unfinished; image back to queued', { imageId: image.id, taskId: image.importTask });
      return reverted !== null;
    }
    const released = await images.update(
      image.id,
      { attributes: { status: 'queued', size: null, virtualSize: null }, writeLease: null },
      { status: image.status, writeLeaseHolder: image.writeLeaseHolder, writeLeaseExpiredAt: now },
    );
    if (released) this.options.logger.warn('write lease expired; image back to queued', { imageId: image.id, status: image.status });
    return released !== null;
  }

  /** Deletes the committed objects of `store` older than `cutoff` that nothing references. */
  private async sweepOrphans(store: BlobStore, cutoff: Date): Promise<number> {
    let deleted = 0;
    let batch: string[] = [];
    const flush = async () => {
      const referenced = await this.options.catalog.images.referencedKeys(store.id, batch);
      for (const key of batch) if (!referenced.has(key) && (await this.deleteIfOrphan(store, key, cutoff))) deleted++;
      batch = [];
    };
    for await (const key of store.list()) {
      batch.push(key);
      if (batch.length >= KEY_BATCH) await flush();
    }
    if (batch.length > 0) await flush();
    return deleted;
  }

  private async deleteIfOrphan(store: BlobStore, key: string, cutoff: Date): Promise<boolean> {
    let modified: Date;
    try {
      modified = await store.lastModified(key);
    } catch (err) {
      if (isStoreError(err, 'not_found')) return false;
      throw err;
    }
    // young objects may be a write between its put and its catalog commit
    if (modified >= cutoff || (await this.keyBusy(key))) return false;
    // asked again just before the delete: a commit may have landed since the batch query
    if ((await this.options.catalog.images.referencedKeys(store.id, [key])).has(key)) return false;
    await store.delete(key);
    this.options.logger.warn('deleted an object no catalog row references', { storeId: store.id, key, lastModified: modified.toISOString() });
    return true;
  }

  /**
   * Whether a live write or import may own `key`: image data lives under the image id, staged data
   * under `staging/<id>`, and both belong to their image while it is saving, uploading or importing.
   */
  private async keyBusy(key: string): Promise<boolean> {
    const imageId = key.startsWith(STAGING_PREFIX) ? key.slice(STAGING_PREFIX.length) : key;
    if (imageId.length === 0 || imageId.length > 64) return false;
    const image = await this.options.catalog.images.get(imageId);
    return image !== null && BUSY_STATUSES.includes(image.status);
  }
}
