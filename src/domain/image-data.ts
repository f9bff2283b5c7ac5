import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { Catalog } from '../catalog/repository';
import type { ImportConfig, LimitsConfig } from '../config/types';
import { HeadCapture } from '../lib/head-capture';
import type { Logger } from '../lib/logger';
import type { BlobStore, ByteRange, PutResult } from '../stores/blob-store';
import { isStoreError, StoreError } from '../stores/blob-store';
import type { StoreRegistry } from '../stores/registry';
import type { RequestContext } from './context';
import { GlintError, fail } from './errors';
import { inspectVirtualSize, INSPECTION_HEAD_BYTES } from './format-inspector';
import type { Image } from './image';
import { type ImageService, notFound, stagingKey } from './image-service';
import { assertCanModify, assertWritable } from './policy';

export interface ImageDataDeps {
  catalog: Catalog;
  stores: StoreRegistry;
  limits: LimitsConfig;
  imports: ImportConfig;
  images: ImageService;
  logger: Logger;
}

export interface IncomingData {
  body: Readable;
  /** Declared length, if the client sent one; a hint for quota pre-checks only. */
  contentLength?: number;
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
    assertCanModify(ctx, image, 'upload data to this image');
    if (image.status !== 'queued') fail('IMAGE_INVALID_STATUS', `Image status transition from ${image.status} to saving is not allowed`);
    if (!image.diskFormat || !image.containerFormat) {
      fail('IMAGE_FORMATS_MISSING', 'Properties disk_format and container_format must be set prior to saving data.');
    }
    const saving = await this.deps.catalog.images.update(id, { attributes: { status: 'saving' } }, { status: 'queued' });
    if (!saving) fail('IMAGE_UPLOAD_RACE_LOST', `Image ${id} could not be found after upload started; it was changed or deleted meanwhile.`);

    let written = false;
    let allowance: UploadAllowance | null = null;
    try {
      allowance = await this.uploadAllowance(saving, data.contentLength);
      const head = new HeadCapture(INSPECTION_HEAD_BYTES);
      const result = await this.putWithLimits(store, id, data, head, allowance.maxSize);
      written = true;
      await this.checkQuotaAfterWrite(saving, result.size);
      const virtualSize = saving.containerFormat === 'bare' ? inspectVirtualSize(saving.diskFormat, head.head, result.size) : null;
      const active = await this.deps.catalog.images.update(
        id,
        {
          attributes: {
            status: 'active',
            size: result.size,
            virtualSize,
            checksum: result.md5,
            osHashAlgo: 'sha512',
            osHashValue: result.sha512,
          },
          addLocations: [{ storeId: store.id, key: id, metadata: { store: store.id } }],
        },
        { status: 'saving' },
      );
      if (!active) fail('IMAGE_GONE', `Image ${id} was deleted during the upload.`);
      return active;
    } catch (err) {
      if (written) await this.deleteQuietly(store, id);
      await this.deps.catalog.images.update(id, { attributes: { status: 'queued', size: null, virtualSize: null } }, { status: 'saving' });
      throw translateStoreError(err, this.deps.limits, allowance);
    }
  }

  /** PUT /stage: queued → uploading, bytes kept in the default store until the import runs. */
  async stage(ctx: RequestContext, id: string, data: IncomingData): Promise<void> {
    if (!this.deps.imports.enabledMethods.includes('glance-direct')) fail('IMPORT_NOT_ENABLED', 'The glance-direct import method is not enabled.');
    assertWritable(ctx);
    const image = await this.deps.images.getImage(ctx, id);
    assertCanModify(ctx, image, 'stage data for this image');
    if (image.status !== 'queued') fail('IMAGE_INVALID_STATUS', `Image status transition from ${image.status} to uploading is not allowed`);
    const uploading = await this.deps.catalog.images.update(id, { attributes: { status: 'uploading' } }, { status: 'queued' });
    if (!uploading) fail('IMAGE_UPLOAD_RACE_LOST', `Image ${id} was changed or deleted while staging started.`);
    const store = this.deps.stores.default;
    let allowance: UploadAllowance | null = null;
    try {
      allowance = await this.uploadAllowance(uploading, data.contentLength);
      const result = await this.putWithLimits(store, stagingKey(id), data, null, allowance.maxSize);
      const staged = await this.deps.catalog.images.update(id, { attributes: { size: result.size } }, { status: 'uploading' });
      if (!staged) {
        await this.deleteQuietly(store, stagingKey(id));
        fail('IMAGE_GONE', `Image ${id} was deleted while staging.`);
      }
    } catch (err) {
      await this.deps.catalog.images.update(id, { attributes: { status: 'queued', size: null, virtualSize: null } }, { status: 'uploading' });
      throw translateStoreError(err, this.deps.limits, allowance);
    }
  }

  /** GET /file. Deactivated images are readable by admins only; images without data read as empty. */
  async read(ctx: RequestContext, id: string, resolveRange: RangeResolver): Promise<ImageDataRead> {
    const image = await this.deps.images.getImage(ctx, id);
    if (image.status === 'deactivated' && !ctx.isAdmin) fail('NOT_AUTHORIZED', 'The requested image has been deactivated. Image data download is forbidden.');
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
    if (!store) fail('STORE_UNKNOWN_FOR_IMPORT', `Unknown store ${storeId}.`);
    const image = await this.deps.images.getImage(ctx, imageId);
    assertCanModify(ctx, image, 'delete image data from a store');
    if (image.status !== 'active') fail('IMAGE_INVALID_STATUS', `It's not allowed to remove image data from store if image status is not 'active'`);
    const location = image.locations.find((l) => l.storeId === storeId);
    if (image.locations.length === 1 && location) fail('STORE_LAST_LOCATION', 'Cannot delete the last image location.');
    if (!location) fail('IMAGE_DATA_NOT_FOUND', `Image ${imageId} has no data in store ${storeId}.`);
    const updated = await this.deps.catalog.images.update(imageId, { removeLocationsInStores: [storeId] }, { status: 'active', revision: image.revision });
    if (!updated) return this.deleteFromStore(ctx, storeId, imageId);
    await this.deleteQuietly(store, location.key);
  }

  /** What `/v2/info/stores` lists. */
  storesInfo(): Array<{ id: string; description: string | null; isDefault: boolean; type: string; properties: Record<string, unknown> }> {
    const { stores } = this.deps;
    return stores.all().map((s) => ({
      id: s.id,
      description: s.description ?? null,
      isDefault: s.id === stores.default.id,
      type: s.type,
      properties: s.detailProperties(),
    }));
  }

  get multiStore(): boolean {
    return this.deps.stores.multiStore;
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

  /** Bytes this upload may write: the image size cap, and the owner's remaining quota. */
  async uploadAllowance(image: Image, contentLength: number | undefined): Promise<UploadAllowance> {
    const { imageSizeCap, userStorageQuota } = this.deps.limits;
    const allowance: UploadAllowance = { maxSize: imageSizeCap, limitedBy: 'size_cap' };
    if (userStorageQuota > 0 && image.owner !== null) {
      const used = await this.deps.catalog.images.storageUsage(image.owner, image.id);
      const remaining = Math.max(0, userStorageQuota - used);
      if (contentLength !== undefined && contentLength > remaining) {
        fail('STORAGE_QUOTA_EXCEEDED', `Denying attempt to upload image because it exceeds the quota: The size of the data ${contentLength} will exceed the limit. ${remaining} bytes remaining.`);
      }
      if (remaining < imageSizeCap) {
        allowance.maxSize = remaining;
        allowance.limitedBy = 'quota';
      }
    }
    return allowance;
  }

  private async checkQuotaAfterWrite(image: Image, size: number): Promise<void> {
    const quota = this.deps.limits.userStorageQuota;
    if (quota <= 0 || image.owner === null) return;
    const used = await this.deps.catalog.images.storageUsage(image.owner, image.id);
    if (used + size > quota) fail('STORAGE_QUOTA_EXCEEDED', 'Denying attempt to upload image because it exceeds the quota.');
  }

  /** Streams into the store, tapping the head bytes when asked; `too_large` carries the limit hit. */
  async putWithLimits(store: BlobStore, key: string, data: IncomingData, head: HeadCapture | null, maxSize: number): Promise<PutResult> {
    if (!head) return store.put(key, data.body, { maxSize, signal: data.signal });
    const tapped = pipeline(data.body, head).catch((err: unknown) => {
      head.destroy(err as Error);
    });
    try {
      return await store.put(key, head, { maxSize, signal: data.signal });
    } finally {
      await tapped;
    }
  }

  /** A store failure in domain terms, reported against the limit that bound the write. */
  translateError(err: unknown, allowance: UploadAllowance | null): unknown {
    return translateStoreError(err, this.deps.limits, allowance);
  }

  async deleteQuietly(store: BlobStore, key: string): Promise<void> {
    try {
      await store.delete(key);
    } catch (err) {
      this.deps.logger.error('failed to remove image data', { storeId: store.id, key, error: String(err) });
    }
  }
}

export interface UploadAllowance {
  maxSize: number;
  limitedBy: 'size_cap' | 'quota';
}

/** Store failures in domain terms; `too_large` is reported against the limit that bound the upload. */
export function translateStoreError(err: unknown, limits: LimitsConfig, allowance: UploadAllowance | null): unknown {
  if (!(err instanceof StoreError)) {
    if (err instanceof GlintError) return err;
    if (isAbortLike(err)) return new GlintError('UPLOAD_ABORTED', 'The client closed the connection during the upload.', undefined, { cause: err });
    return err;
  }
  switch (err.kind) {
    case 'too_large':
      if (allowance?.limitedBy === 'quota') {
        return new GlintError('STORAGE_QUOTA_EXCEEDED', 'Denying attempt to upload image because it exceeds the quota.', undefined, { cause: err });
      }
      return new GlintError('IMAGE_SIZE_CAP_EXCEEDED', `Image exceeds the storage quota: the image is larger than the image_size_cap of ${limits.imageSizeCap} bytes.`, undefined, {
        cause: err,
      });
    case 'aborted':
      return new GlintError('UPLOAD_ABORTED', 'The client closed the connection during the upload.', undefined, { cause: err });
    case 'size_mismatch':
      return new GlintError('SIZE_MISMATCH', err.message, undefined, { cause: err });
    case 'write_denied':
      return new GlintError('STORE_WRITE_DENIED', `Insufficient permissions on image storage media: ${err.message}`, undefined, { cause: err });
    case 'not_found':
      return new GlintError('IMAGE_DATA_NOT_FOUND', err.message, undefined, { cause: err });
    default:
      return new GlintError('STORE_UNAVAILABLE', `The image store is unavailable: ${err.message}`, undefined, { cause: err });
  }
}

function isAbortLike(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR' || (err as Error | null)?.name === 'AbortError';
}
