import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import type { StoreRegistry } from '../../stores/registry';
import type { RequestContext } from '../context';
import { fail } from '../errors';
import type { Image, ImageLocation } from '../image';
import type { ImageChange } from '../image-commands';
import type { ImageService } from '../image-service';
import type { ImportService } from '../imports/import-service';
import type { JobQueue } from '../jobs/handler';
import type { Catalog } from '../repositories';
import type { StoredObject } from '../stored-object';
import { LOCATION_IMPORT_TASK, type LocationImportInput } from './location-import-task';
import { LocationPolicy } from './location-policy';
import { LocationEditor, type LocationOperation } from './location-editor';
import { resolveLocationUrl } from './location-url';
import { checkHashingData, type ValidationData } from './validation-data';

export interface LocationServiceDeps {
  catalog: Pick<Catalog, 'images'>;
  stores: StoreRegistry;
  images: ImageService;
  imports: ImportService;
  jobs: JobQueue;
  logger: Logger;
  /** `show_multiple_locations`: the PATCH forms are allowed. */
  showMultipleLocations: boolean;
  /** `image_location_quota` (negative: unlimited). */
  locationQuota: number;
  hashingAlgorithm: string;
}

/** A location as the locations API lists it. */
export interface LocationView {
  url: string;
  metadata: Record<string, unknown>;
}

/**
 * The locations of an image: the API of Image API 2.17 (add to a queued image, hashed by a job;
 * list for services) and the older PATCH of `/locations` behind `show_multiple_locations`.
 */
export class LocationService {
  private readonly policy: LocationPolicy;

  constructor(private readonly deps: LocationServiceDeps) {
    this.policy = new LocationPolicy(deps.images);
  }

  /**
   * `POST /v2/images/{id}/locations`, in Glance's order of checks: the image is visible (404) and
   * queued (409); the caller has the service role (403); the validation data is well formed (400);
   * the URL names an object of a configured store (400; Glance finds this only in its task); no
   * other import holds the image (409). Then locks the image for a `location_import` job and queues it;
   * the job adds the location, hashes the data as configured and activates the image.
   */
  async addLocation(ctx: RequestContext, imageId: string, url: string, validationData: ValidationData): Promise<void> {
    const image = await this.deps.images.getImage(ctx, imageId);
    if (image.status !== 'queued') fail('IMAGE_INVALID_STATUS', `It's not allowed to add locations if image status is ${image.status}.`);
    this.policy.assertMayAdd(ctx, image);
    checkHashingData(validationData, this.deps.hashingAlgorithm);
    if (!resolveLocationUrl(url, this.deps.stores)) fail('BAD_REQUEST', `Invalid location: ${url} is not an object of a configured store.`);
    await this.deps.imports.assertNotLocked(image);

    const input: LocationImportInput = { image_id: image.id, loc_url: url, validation_data: validationData };
    // Lock first, as Glance does: a node may claim the task the moment it is queued, and the job
    // fails a task the image is not locked for.
    const taskId = randomUUID();
    const locked = await this.deps.catalog.images.update(image.id, { setProperties: { os_glance_import_task: taskId } }, { status: 'queued', revision: image.revision });
    if (!locked) fail('IMPORT_LOCKED', `New operation on image '${image.id}' is not permitted as prior operation is still in progress`);
    try {
      await this.deps.jobs.enqueue({
        id: taskId,
        type: LOCATION_IMPORT_TASK,
        owner: image.owner,
        imageId: image.id,
        requestId: ctx.requestId,
        userId: ctx.userId,
        input: { ...input },
      });
    } catch (err) {
      await this.deps.catalog.images.update(image.id, { removeProperties: ['os_glance_import_task'] }, { revision: locked.revision }).catch(() => null);
      throw err;
    }
  }

  /** `GET /v2/images/{id}/locations`: the image must be visible (404), the caller a service (403). */
  async listLocations(ctx: RequestContext, imageId: string): Promise<LocationView[]> {
    const image = await this.deps.images.getImage(ctx, imageId);
    this.policy.assertMayFetch(ctx, image);
    return image.locations.map((location) => this.view(location));
  }

  /**
   * `PATCH /v2/images/{id}` with operations on `/locations` (and maybe others): every change is
   * applied to one read of the image and saved in one update; the data of removed locations is
   * deleted afterwards, unless another image still refers to it.
   */
  async patch(ctx: RequestContext, imageId: string, changes: ImageChange[], operations: LocationOperation[]): Promise<Image> {
    const { stores } = this.deps;
    let removed: StoredObject[] = [];
    const editor = new LocationEditor({
      stores,
      policy: this.policy,
      showMultipleLocations: this.deps.showMultipleLocations,
      locationQuota: this.deps.locationQuota,
      hashingAlgorithm: this.deps.hashingAlgorithm,
    });
    const image = await this.deps.images.updateImage(ctx, imageId, changes, async (current) => {
      const edit = await editor.apply(ctx, current, operations);
      removed = edit.removed;
      return edit.changes;
    });
    await this.deleteUnreferenced(removed);
    return image;
  }

  /** Deletes objects whose locations were removed, unless a catalog row still refers to them. */
  async deleteUnreferenced(objects: readonly StoredObject[]): Promise<void> {
    for (const { storeId, key } of objects) {
      const store = this.deps.stores.get(storeId);
      if (!store) continue;
      try {
        if ((await this.deps.catalog.images.referencedKeys(storeId, [key])).has(key)) continue;
        await store.delete(key);
      } catch (err) {
        // the reconciler deletes unreferenced objects later
        this.deps.logger.warn('could not delete the data of a removed location', { storeId, key, error: String(err) });
      }
    }
  }

  private view(location: ImageLocation): LocationView {
    return { url: this.deps.stores.locationUrl(location.storeId, location.key) ?? '', metadata: location.metadata };
  }
}
