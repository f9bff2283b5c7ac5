import type { Readable } from 'node:stream';
import type { ImportConfig } from '../config/types';
import type { ByteRange } from '../lib/byte-range';
import type { Logger } from '../lib/logger';
import type { BlobStore, StoreDetails } from '../stores/blob-store';
import { isStoreError } from '../stores/blob-store';
import type { StoreRegistry } from '../stores/registry';
import type { RequestContext } from './context';
import { fail } from './errors';
import { DEFAULT_DISK_FORMAT_POLICY, diskImageCheck, type DiskFormatPolicy, inspectVirtualSize, INSPECTION_HEAD_BYTES } from './disk-formats';
import { assertTransition, type Image, type ImageLocation } from './image';
import { type ImageService, notFound, stagingKey } from './image-service';
import type { DataCheck, IngestedData, IngestPipeline } from './ingest';
import { assertWritable } from './policy';
import type { Catalog, ImageAttributeChanges } from './repositories';

export interface ImageDataDeps {
  catalog: Catalog;
  stores: StoreRegistry;
  imports: ImportConfig;
  images: ImageService;
  ingest: IngestPipeline;
  logger: Logger;
  /** `[image_format]` inspection rules (default: Glance's). */
  diskFormats?: DiskFormatPolicy;
}

export interface IncomingData {
  body: Readable;
  /** Declared length, if the client sent one; a hint for quota pre-checks only. */
  contentLength?: number;
  /** Bytes the client says the data has (`X-OpenStack-Image-Size`): a different count fails the write (SIZE_MISMATCH). */
  expectedSize?: number;
  /** Store id the client asked for (multi-store), else the default store. */
  storeId?: string;
  signal?: AbortSignal;
}

export type ImageDataRead =
  | { kind: 'empty' }
  /** `body` is a Buffer when the store read the bytes into memory already (small ranges and images). */
  | { kind: 'data'; body: Readable | Buffer; length: number; totalSize: number; range: ByteRange | null; checksum: string | null };

/** Chooses the byte range to serve once the image size is known; may throw RANGE_* errors. */
export type RangeResolver = (totalSize: number) => ByteRange | null;

/** Upload, staging and download of image data, with the status machine of Glance §11–13. */
export class ImageDataService {
  constructor(private readonly deps: ImageDataDeps) {}

  /** The store a request names, or the default. Unknown names are the caller's mistake (400). */
  resolveStore(storeId: string | undefined): BlobStore {
    const { stores } = this.deps;
    if (storeId === undefined || !stores.multiStore) return stores.default;
    const store = stores.get(storeId);
    if (!store) fail('STORE_UNKNOWN', `Store for identifier ${storeId} not found`);
    return store;
  }

  /** PUT /file: queued → saving → active, or back to queued with nothing kept on any failure. */
  async upload(ctx: RequestContext, id: string, data: IncomingData): Promise<Image> {
    assertWritable(ctx);
    const store = this.resolveStore(data.storeId);
    const image = await this.deps.images.getImage(ctx, id);
    this.deps.images.authorizeImage(ctx, 'upload_image', image, 'upload data to this image');
    assertTransition(image.status, 'saving');
    if (!image.diskFormat || !image.containerFormat) {
      fail('IMAGE_FORMATS_MISSING', 'Properties disk_format and container_format must be set prior to saving data.');
    }
    const { image: active } = await this.deps.ingest.write({
      image,
      store,
      key: id,
      source: data.body,
      contentLength: data.expectedSize ?? data.contentLength,
      expectedSize: data.expectedSize,
      signal: data.signal,
      reserveAs: 'saving',
      headBytes: INSPECTION_HEAD_BYTES,
      check: this.dataCheck(image),
      commit: (written) => ({
        attributes: { status: 'active', ...digestAttributes(image, written) },
        addLocations: [locationOf(written)],
      }),
      lost: {
        reserve: `Image ${id} could not be found after upload started; it was changed or deleted meanwhile.`,
        commit: `Image ${id} was deleted during the upload.`,
      },
    });
    return active;
  }

  /** PUT /stage: queued → uploading, bytes kept in the default store until the import runs. */
  async stage(ctx: RequestContext, id: string, data: IncomingData): Promise<void> {
    if (!this.deps.imports.enabledMethods.includes('glance-direct')) fail('IMPORT_NOT_ENABLED', 'The glance-direct import method is not enabled.');
    assertWritable(ctx);
    const image = await this.deps.images.getImage(ctx, id);
    // staging has no rule of its own: Glance checks modify_image
    this.deps.images.authorizeImage(ctx, 'modify_image', image, 'stage data for this image');
    assertTransition(image.status, 'uploading');
    await this.deps.ingest.write({
      image,
      store: this.deps.stores.default,
      key: stagingKey(id),
      source: data.body,
      contentLength: data.expectedSize ?? data.contentLength,
      expectedSize: data.expectedSize,
      signal: data.signal,
      reserveAs: 'uploading',
      check: this.dataCheck(image),
      commit: (written) => ({ attributes: { size: written.size } }),
      lost: { reserve: `Image ${id} was changed or deleted while staging started.`, commit: `Image ${id} was deleted while staging.` },
    });
  }

  /**
   * The disk-format inspection data written for `image` gets (Glance's format inspector and
   * content checks): unsafe or mismatching data fails the write with IMAGE_DATA_INVALID before
   * anything is stored. Null for images whose container is not `bare`.
   */
  dataCheck(image: Image): DataCheck | null {
    return diskImageCheck(image.diskFormat, image.containerFormat, this.deps.diskFormats ?? DEFAULT_DISK_FORMAT_POLICY);
  }

  /** GET /file. Deactivated images are readable by admins only; images without data read as empty. */
  async read(ctx: RequestContext, id: string, resolveRange: RangeResolver): Promise<ImageDataRead> {
    const image = await this.deps.images.getImage(ctx, id);
    if (image.status === 'deactivated' && !ctx.isAdmin) fail('NOT_AUTHORIZED', 'The requested image has been deactivated. Image data download is forbidden.');
    this.deps.images.authorizeImage(ctx, 'download_image', image, null);
    if (image.locations.length === 0 || image.size === null) return { kind: 'empty' };
    const range = resolveRange(image.size);
    let lastError: unknown = null;
    for (const location of image.locations) {
      const store = this.deps.stores.get(location.storeId);
      if (!store) continue;
      try {
        const opened = await store.get(location.key, range ?? undefined);
        return { kind: 'data', body: opened.bytes ?? opened.body, length: opened.length, totalSize: opened.totalSize, range, checksum: image.checksum };
      } catch (err) {
        lastError = err;
        this.deps.logger.warn('image location unreadable', { imageId: id, storeId: location.storeId, error: String(err) });
      }
    }
    if (isStoreError(lastError, 'not_found')) fail('IMAGE_DATA_NOT_FOUND', `Image ${id} has no readable data.`);
    fail('STORE_UNAVAILABLE', `The store holding image ${id} is unavailable.`);
  }

  /** `DELETE /v2/stores/{store}/{image}`: drops one copy of an active image (spec §18). */
  async deleteFromStore(ctx: RequestContext, storeId: string, imageId: string): Promise<void> {
    const { stores } = this.deps;
    if (!stores.multiStore) fail('STORE_NOT_ENABLED', 'Multi-store is not enabled.');
    const store = stores.get(storeId);
    if (!store) fail('STORE_UNKNOWN_FOR_IMPORT', `The selected store ${storeId} is not available on this node.`);
    const image = await this.deps.images.getImage(ctx, imageId);
    // Glance: reading the locations, then removing one (admin only by default)
    this.deps.images.authorizeImage(ctx, 'get_image_location', image, null);
    this.deps.images.authorizeImage(ctx, 'delete_image_location', image, 'delete image data from a store');
    if (image.status !== 'active') fail('IMAGE_INVALID_STATUS', `It's not allowed to remove image data from store if image status is not 'active'`);
    // Glance refuses an image with one location before it looks at the store: 403 even when the
    // one copy is in another store
    if (image.locations.length === 1) fail('STORE_LAST_LOCATION', 'Cannot delete image data from the only store containing it. Consider deleting the image instead.');
    const location = image.locations.find((l) => l.storeId === storeId);
    if (!location) fail('IMAGE_DATA_NOT_FOUND', `Image ${imageId} is not stored in store ${storeId}.`);
    const updated = await this.deps.catalog.images.update(imageId, { removeLocationsInStores: [storeId] }, { status: 'active', revision: image.revision });
    if (!updated) return this.deleteFromStore(ctx, storeId, imageId);
    await this.deps.ingest.deleteQuietly(store, location.key);
  }

  /** The caller's project's stored bytes against `user_storage_quota`; null when no quota is set. */
  async storageUsage(ctx: RequestContext): Promise<{ usedBytes: number; quotaBytes: number } | null> {
    return this.deps.ingest.storageUsage(ctx.projectId);
  }

  /** What `/v2/info/stores` lists. */
  storesInfo(): Array<{ id: string; description: string | null; isDefault: boolean; type: string; details: StoreDetails }> {
    const { stores } = this.deps;
    return stores.all().map((s) => ({
      id: s.id,
      description: s.description ?? null,
      isDefault: s.id === stores.default.id,
      type: s.type,
      details: s.details(),
    }));
  }

  get multiStore(): boolean {
    return this.deps.stores.multiStore;
  }

  /** Where a location's bytes live, as a URL (Glance's `direct_url` and `locations`). */
  locationUrl(location: ImageLocation): string | undefined {
    return this.deps.stores.locationUrl(location.storeId, location.key);
  }

  /** Opens an image's data for copying (imports, other surfaces); no range, no policy. */
  async openFirstLocation(image: Image): Promise<{ body: Readable; size: number; storeId: string }> {
    for (const location of image.locations) {
      const store = this.deps.stores.get(location.storeId);
      if (!store) continue;
      try {
        const opened = await store.get(location.key);
        return { body: opened.body, size: opened.totalSize, storeId: store.id };
      } catch (err) {
        this.deps.logger.warn('image location unreadable', { imageId: image.id, storeId: location.storeId, error: String(err) });
      }
    }
    throw notFound(image.id);
  }
}

/** The attributes a finished write of an image's data sets: size, digests and virtual size. */
export function digestAttributes(image: Image, written: IngestedData): ImageAttributeChanges {
  return {
    size: written.size,
    // Glance records a virtual size only when it is not 0 (an empty upload keeps null)
    virtualSize: image.containerFormat === 'bare' ? inspectVirtualSize(image.diskFormat, written.head, written.size) || null : null,
    checksum: written.md5,
    osHashAlgo: 'sha512',
    osHashValue: written.sha512,
  };
}

/** The location a finished write adds. */
export function locationOf(written: IngestedData): { storeId: string; key: string; metadata: Record<string, unknown> } {
  return { storeId: written.storeId, key: written.key, metadata: { store: written.storeId } };
}
