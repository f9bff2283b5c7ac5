import type { Readable } from 'node:stream';
import type { Logger } from '../../lib/logger';
import type { BlobStore } from '../../stores/blob-store';
import type { StoreRegistry } from '../../stores/registry';
import { GlintError } from '../errors';
import { INSPECTION_HEAD_BYTES } from '../disk-formats';
import type { Image } from '../image';
import { digestAttributes, type ImageDataService, locationOf } from '../image-data';
import { stagingKey } from '../image-service';
import type { IngestPipeline } from '../ingest';
import { JobTimeoutError, type Job, type JobHandler, type JobOutcome } from '../jobs/handler';
import type { ImageRepository } from '../repositories';
import { IMPORT_TASK, LEGACY_IMPORT_TASK, type ImportTaskInput, type LegacyImportTaskInput } from './import-task';
import { openWebDownload } from './web-download';

export interface ImportJobDeps {
  images: ImageRepository;
  stores: StoreRegistry;
  data: ImageDataService;
  ingest: IngestPipeline;
  logger: Logger;
  /** Imports at once on one node (default 4). */
  concurrency?: number;
  /** Longest an import may run (ms; default a day). */
  timeoutMs?: number;
}

/**
 * The import job: copies the source (staged data, a web URL, an existing copy) into each target
 * store through the ingest pipeline, then activates the image, or reverts everything and lists
 * the failed stores. Runs `api_image_import` tasks and the legacy tasks API's `import` tasks.
 *
 * A resumed run (the previous node stopped or died) skips the stores that already hold the data;
 * a run whose lease is lost or whose node stops throws at once and leaves the image to the run
 * that resumes it; a run over its timeout reverts like a failure.
 */
export class ImportJob implements JobHandler {
  readonly types = [IMPORT_TASK, LEGACY_IMPORT_TASK];
  readonly concurrency: number;
  readonly timeoutMs: number;

  constructor(private readonly deps: ImportJobDeps) {
    this.concurrency = deps.concurrency ?? 4;
    this.timeoutMs = deps.timeoutMs ?? 24 * 3600_000;
  }

  async run(job: Job, signal: AbortSignal): Promise<JobOutcome> {
    if (job.type === LEGACY_IMPORT_TASK) {
      const legacy = job.input as LegacyImportTaskInput;
      const input: ImportTaskInput = {
        image_id: legacy.image_id,
        method: 'web-download',
        uri: legacy.import_from,
        stores: [this.deps.stores.default.id],
        all_stores_must_succeed: true,
      };
      return this.runImport(job, input, signal);
    }
    const input = job.input as ImportTaskInput;
    const image = await this.deps.images.get(input.image_id);
    // The request locks the image after queueing the task; a task whose lock never came (the
    // image changed in between) must not run.
    if (image && image.properties.os_glance_import_task !== job.id) {
      return { status: 'failure', message: `Image ${image.id} is not locked for import task ${job.id}.` };
    }
    return this.runImport(job, input, signal);
  }

  /** Copies the import source into each target store; the outcome is the task's final status. */
  private async runImport(job: Job, input: ImportTaskInput, signal: AbortSignal): Promise<JobOutcome> {
    const imageId = input.image_id;
    const images = this.deps.images;
    let image = await images.get(imageId);
    if (!image) return { status: 'failure', message: `Image ${imageId} no longer exists.` };

    const copying = input.method === 'copy-image';
    if (!copying) {
      const from = input.method === 'glance-direct' ? 'uploading' : 'queued';
      const importing = await images.update(imageId, { attributes: { status: 'importing' } }, { status: [from, 'importing'] });
      if (!importing) return { status: 'failure', message: `Image ${imageId} is not ${from} any more.` };
      image = importing;
    }

    const written: Array<{ store: BlobStore }> = [];
    const failed: string[] = [];
    let timedOut: JobTimeoutError | null = null;
    const heldBefore = new Set(copying ? [] : image.locations.map((l) => l.storeId));
    for (const storeId of input.stores) {
      const store = this.deps.stores.get(storeId);
      if (store && heldBefore.has(storeId)) {
        written.push({ store });
        continue;
      }
      try {
        if (!store) throw new GlintError('STORE_UNKNOWN_FOR_IMPORT', `Store ${storeId} is no longer configured.`);
        const first = written.length === 0 && !copying;
        const source = await this.openSource(image, input, written[0]?.store ?? null, signal);
        const current: Image = image;
        const { image: after } = await this.deps.ingest.write({
          image: current,
          store,
          key: imageId,
          source,
          signal,
          commitIf: copying ? 'active' : 'importing',
          headBytes: first ? INSPECTION_HEAD_BYTES : 0,
          // every copy is inspected: a store must not receive what the first one would refuse
          check: this.deps.data.dataCheck(current),
          commit: (data) => ({
            attributes: first ? digestAttributes(current, data) : {},
            addLocations: [locationOf(data)],
            setProperties: { os_glance_importing_to_stores: remaining(input.stores, storeId, [...written, { store }], failed) },
          }),
          lost: { commit: `Image ${imageId} was deleted during the import.` },
        });
        written.push({ store });
        image = after;
      } catch (err) {
        // Stopping or losing the lease: the run that resumes the task finishes or reverts it.
        if (signal.aborted && !(signal.reason instanceof JobTimeoutError)) throw err;
        this.deps.logger.warn('import into store failed', { taskId: job.id, imageId, storeId, error: String(err) });
        failed.push(storeId);
        const current = await images.update(imageId, {
          setProperties: { os_glance_failed_import: failed.join(','), os_glance_importing_to_stores: remaining(input.stores, storeId, written, failed) },
        });
        if (!current) break;
        image = current;
        if (signal.reason instanceof JobTimeoutError) {
          timedOut = signal.reason;
          break;
        }
        if (err instanceof GlintError && err.code === 'IMAGE_GONE') break;
        if (input.all_stores_must_succeed && !copying) break;
      }
    }

    const succeeded = !timedOut && (failed.length === 0 || (!input.all_stores_must_succeed && written.length > 0));
    if (input.method === 'glance-direct') await this.deps.ingest.deleteQuietly(this.deps.stores.default, stagingKey(imageId));
    const unlock = { removeProperties: ['os_glance_import_task'], setProperties: { os_glance_importing_to_stores: '' } };
    if (succeeded) {
      if (!copying) await images.update(imageId, { ...unlock, attributes: { status: 'active' } }, { status: 'importing' });
      else await images.update(imageId, unlock);
      return { status: 'success', result: { image_id: imageId } };
    }
    // Revert: nothing of a failed import stays behind.
    for (const { store } of written) await this.deps.ingest.deleteQuietly(store, imageId);
    const revertedStores = written.map((w) => w.store.id);
    if (!copying) {
      await images.update(
        imageId,
        {
          ...unlock,
          attributes: { status: 'queued', size: null, virtualSize: null, checksum: null, osHashAlgo: null, osHashValue: null },
          removeLocationsInStores: revertedStores,
        },
        { status: 'importing' },
      );
    } else {
      await images.update(imageId, { ...unlock, removeLocationsInStores: revertedStores });
    }
    const message = `Import failed for stores: ${failed.join(',')}`;
    return { status: 'failure', message: timedOut ? `${timedOut.message} ${message}` : message, result: { image_id: imageId } };
  }

  /** The import source: staged data, the web, or an existing copy. */
  private async openSource(image: Image, input: ImportTaskInput, firstWritten: BlobStore | null, signal: AbortSignal): Promise<Readable> {
    if (firstWritten) return (await firstWritten.get(image.id)).body;
    if (input.method === 'glance-direct') return (await this.deps.stores.default.get(stagingKey(image.id))).body;
    if (input.method === 'web-download') return openWebDownload(input.uri as string, signal);
    return (await this.deps.data.openFirstLocation(image)).body;
  }
}

/** The target stores neither done nor failed yet, after `current`: `os_glance_importing_to_stores`. */
function remaining(all: string[], current: string, written: Array<{ store: BlobStore }>, failed: string[]): string {
  const done = new Set([current, ...written.map((w) => w.store.id), ...failed]);
  return all.filter((id) => !done.has(id)).join(',');
}
