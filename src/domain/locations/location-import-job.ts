import { createHash } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import { isStoreError } from '../../stores/blob-store';
import type { StoreRegistry } from '../../stores/registry';
import type { Image } from '../image';
import type { Job, JobHandler, JobOutcome } from '../jobs/handler';
import type { ImageRepository } from '../repositories';
import type { StoredObject } from '../stored-object';
import { LOCATION_IMPORT_TASK, type LocationImportInput } from './location-import-task';
import { resolveLocationUrl } from './location-url';

export interface LocationImportJobDeps {
  images: ImageRepository;
  stores: StoreRegistry;
  logger: Logger;
  /** `do_secure_hash`: read the data at the location and set checksum and os_hash_value. */
  doSecureHash: boolean;
  /** `http_retries`: attempts at reading the data for its hashes. */
  hashAttempts: number;
  /** `hashing_algorithm`: os_hash_algo when the request names none. */
  hashingAlgorithm: string;
  /** Deletes the data of a location the job took back, unless something else refers to it. */
  deleteUnreferenced(objects: readonly StoredObject[]): Promise<void>;
  concurrency?: number;
  timeoutMs?: number;
}

/**
 * The `location_import` job (Glance's location_import flow): adds the location to the image the
 * request locked for it, then, as configured:
 * - do_secure_hash and validation data: the image is `importing` while the data is hashed; a hash
 *   that differs from the validation data takes the location back (its data deleted, as Glance
 *   pops it) and the image returns to `queued`; a match makes it `active`;
 * - do_secure_hash alone: the image goes `active` at once and is hashed afterwards (a failure to
 *   read the data is only logged, as in Glance);
 * - validation data alone: its values are set as given, and the image goes `active`;
 * - neither: `active` with no checksum.
 * Size comes from the store. A resumed run finds the location already added and hashes again.
 */
export class LocationImportJob implements JobHandler {
  readonly types = [LOCATION_IMPORT_TASK];
  readonly concurrency: number;
  readonly timeoutMs: number;

  constructor(private readonly deps: LocationImportJobDeps) {
    this.concurrency = deps.concurrency ?? 4;
    this.timeoutMs = deps.timeoutMs ?? 24 * 3600_000;
  }

  async run(job: Job, signal: AbortSignal): Promise<JobOutcome> {
    const input = job.input as unknown as LocationImportInput;
    const { images } = this.deps;
    const image = await images.get(input.image_id);
    if (!image) return { status: 'failure', message: `Image ${input.image_id} no longer exists.` };
    if (image.properties.os_glance_import_task !== job.id) return { status: 'failure', message: `Image ${image.id} is not locked for task ${job.id}.` };
    const outcome = await this.addAndHash(job, image, input, signal);
    // the lock goes with the outcome; a run that throws (stopping, lease lost) leaves it to its resumption
    await images.update(image.id, { removeProperties: ['os_glance_import_task'] });
    return outcome;
  }

  private async addAndHash(job: Job, locked: Image, input: LocationImportInput, signal: AbortSignal): Promise<JobOutcome> {
    const { images, stores, doSecureHash } = this.deps;
    const object = resolveLocationUrl(input.loc_url, stores);
    const store = object && stores.get(object.storeId);
    if (!object || !store) return { status: 'failure', message: `Invalid location: ${input.loc_url}` };
    const given = input.validation_data ?? {};
    const algo = given.os_hash_algo ?? this.deps.hashingAlgorithm;
    const validating = doSecureHash && given.os_hash_value !== undefined;
    const held = (image: Image) => image.locations.some((l) => l.storeId === object.storeId && l.key === object.key);

    let image = locked;
    if (!held(image)) {
      let size: number;
      try {
        size = (await store.stat(object.key)).size;
      } catch (err) {
        if (isStoreError(err, 'not_found') || isStoreError(err, 'invalid_key')) return { status: 'failure', message: `Invalid location: ${input.loc_url}` };
        throw err;
      }
      if (size === 0) return { status: 'failure', message: `Invalid location: ${input.loc_url}` };
      const added = await images.update(
        image.id,
        {
          attributes: {
            status: validating ? 'importing' : 'active',
            size,
            ...(doSecureHash ? { osHashAlgo: algo } : given.os_hash_value !== undefined ? { osHashAlgo: algo, osHashValue: given.os_hash_value } : {}),
          },
          addLocations: [{ storeId: object.storeId, key: object.key, metadata: stores.multiStore ? { store: object.storeId } : {} }],
        },
        { status: 'queued', revision: image.revision },
      );
      if (!added) return { status: 'failure', message: `Image ${image.id} changed while its location was being added.` };
      image = added;
    }
    if (!doSecureHash) return { status: 'success', result: { image_id: image.id } };

    const hashes = await this.hash(job, store, object.key, algo, signal);
    if (validating) {
      if (hashes && hashes.osHashValue === given.os_hash_value) {
        await images.update(image.id, { attributes: { status: 'active', checksum: hashes.checksum, osHashValue: hashes.osHashValue } }, { status: 'importing' });
        return { status: 'success', result: { image_id: image.id } };
      }
      const reverted = await images.update(
        image.id,
        {
          attributes: { status: 'queued', size: null, checksum: null, osHashAlgo: null, osHashValue: null },
          replaceLocations: image.locations.filter((l) => !(l.storeId === object.storeId && l.key === object.key)),
        },
        { status: 'importing' },
      );
      if (reverted) await this.deps.deleteUnreferenced([object]);
      const message = hashes
        ? `os_hash_value: (${given.os_hash_value}) not matched with actual os_hash_value: (${hashes.osHashValue})`
        : `Hash calculation failed for image ${image.id} data`;
      return { status: 'failure', message, result: { image_id: image.id } };
    }
    if (hashes) await images.update(image.id, { attributes: { checksum: hashes.checksum, osHashValue: hashes.osHashValue } });
    return { status: 'success', result: { image_id: image.id } };
  }

  /** md5 and `algo` of the object, with `http_retries` attempts; null when every attempt failed. */
  private async hash(
    job: Job,
    store: NonNullable<ReturnType<StoreRegistry['get']>>,
    key: string,
    algo: string,
    signal: AbortSignal,
  ): Promise<{ checksum: string; osHashValue: string } | null> {
    for (let attempt = 1; attempt <= this.deps.hashAttempts; attempt++) {
      signal.throwIfAborted();
      try {
        const md5 = createHash('md5');
        const digest = createHash(algo);
        const { body } = await store.get(key);
        const stop = () => body.destroy(signal.reason as Error);
        signal.addEventListener('abort', stop, { once: true });
        try {
          for await (const chunk of body) {
            md5.update(chunk as Buffer);
            digest.update(chunk as Buffer);
          }
        } finally {
          signal.removeEventListener('abort', stop);
        }
        return { checksum: md5.digest('hex'), osHashValue: digest.digest('hex') };
      } catch (err) {
        if (signal.aborted) throw err;
        this.deps.logger.warn('hashing the data of a location failed', { taskId: job.id, storeId: store.id, key, attempt, error: String(err) });
        if (isStoreError(err, 'not_found')) return null;
      }
    }
    return null;
  }
}
