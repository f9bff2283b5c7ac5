import { createReadStream } from 'node:fs';
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
import type { ImportPlugins, PreparedImport } from './plugins';
import { openWebDownload } from './web-download';

export interface ImportJobDeps {
  images: ImageRepository;
  stores: StoreRegistry;
  data: ImageDataService;
  ingest: IngestPipeline;
  logger: Logger;
  /** `[image_import_opts] image_import_plugins`, run before the data is stored (none: no plugins). */
  plugins?: ImportPlugins;
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
    // Plugins run once, before the first store is written; their changes commit with its data, so
    // a run resumed before that runs them again on the same source.
    const { prepared, pluginError } = heldBefore.size === 0 && !copying ? await this.runPlugins(job, image, input, signal) : { prepared: null, pluginError: null };
    if (pluginError) failed.push(...input.stores);
    const formatsBefore = { diskFormat: image.diskFormat, containerFormat: image.containerFormat };
    try {
      for (const storeId of pluginError ? [] : input.stores) {
        const store = this.deps.stores.get(storeId);
        if (store && heldBefore.has(storeId)) {
          written.push({ store });
          continue;
        }
        try {
          if (!store) throw new GlintError('STORE_UNKNOWN_FOR_IMPORT', `Store ${storeId} is no longer configured.`);
          const first = written.length === 0 && !copying;
          const source = await this.openSource(image, input, written[0]?.store ?? null, signal, prepared?.dataFile ?? null);
          const current: Image = first && prepared ? { ...image, ...prepared.attributes } : image;
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
              attributes: first ? { ...prepared?.attributes, ...digestAttributes(current, data) } : {},
              addLocations: [locationOf(data)],
              setProperties: { ...(first ? prepared?.setProperties : {}), os_glance_importing_to_stores: remaining(input.stores, storeId, [...written, { store }], failed) },
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
    } finally {
      await prepared?.cleanup();
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
          // a conversion's formats go with the data they described
          attributes: { status: 'queued', size: null, virtualSize: null, checksum: null, osHashAlgo: null, osHashValue: null, ...(prepared ? formatsBefore : {}) },
          removeLocationsInStores: revertedStores,
        },
        { status: 'importing' },
      );
    } else {
      await images.update(imageId, { ...unlock, removeLocationsInStores: revertedStores });
    }
    const cause = pluginError instanceof Error ? ` (${pluginError.message})` : '';
    const message = `Import failed for stores: ${failed.join(',')}${cause}`;
    return { status: 'failure', message: timedOut ? `${timedOut.message} ${message}` : message, result: { image_id: imageId } };
  }

  /**
   * Runs the configured plugins on the import source. A plugin's failure fails every target store
   * (Glance's revert of a failed conversion); stopping or losing the lease is rethrown.
   */
  private async runPlugins(job: Job, image: Image, input: ImportTaskInput, signal: AbortSignal): Promise<{ prepared: PreparedImport | null; pluginError: unknown }> {
    const plugins = this.deps.plugins;
    if (!plugins || plugins.names.length === 0) return { prepared: null, pluginError: null };
    try {
      return { prepared: await plugins.prepare(image, input, () => this.openSource(image, input, null, signal, null), signal), pluginError: null };
    } catch (err) {
      if (signal.aborted && !(signal.reason instanceof JobTimeoutError)) throw err;
      this.deps.logger.warn('import plugins failed', { taskId: job.id, imageId: image.id, plugins: plugins.names, error: String(err) });
      await this.deps.images.update(image.id, { setProperties: { os_glance_failed_import: input.stores.join(','), os_glance_importing_to_stores: '' } });
      return { prepared: null, pluginError: err };
    }
  }

  /** The import source: a plugin's output, staged data, the web, or an existing copy. */
  private async openSource(image: Image, input: ImportTaskInput, firstWritten: BlobStore | null, signal: AbortSignal, dataFile: string | null): Promise<Readable> {
    if (firstWritten) return (await firstWritten.get(image.id)).body;
    if (dataFile) return createReadStream(dataFile);
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
