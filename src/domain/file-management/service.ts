import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { EdgeGalleryConfig } from '../../config/types';
import type { Logger } from '../../lib/logger';
import type { StoreRegistry } from '../../stores/registry';
import type { RequestContext } from '../context';
import { type DiskFormatPolicy, INSPECTION_HEAD_BYTES } from '../disk-formats';
import { GlintError, fail, isGlintError } from '../errors';
import { digestAttributes, type ImageDataRead, type ImageDataService, locationOf, type RangeResolver } from '../image-data';
import type { ImageService } from '../image-service';
import type { CheckReport, CompressReport, ImageOps, JobStarted } from '../imageops/contract';
import type { IngestPipeline } from '../ingest';
import { DetectedFormat } from './detected-format';
import type { FileDetails, FileRecord, FileStorer, SlimStatus, StoredFile, StoreFileRequest } from './model';
import type { FileRecordRepository } from './repository';
import { assertAcceptedFileName, compressedName, isZipName, MAX_FILE_BYTES, type PriorityTarget, priorityTarget, saveName } from './rules';
import { openZipImage } from './zip-archive';

export interface FileManagementDeps {
  images: ImageService;
  data: ImageDataService;
  ingest: IngestPipeline;
  records: FileRecordRepository;
  stores: StoreRegistry;
  imageOps: ImageOps;
  config: EdgeGalleryConfig;
  /** `[image_format]` inspection rules and the disk formats the catalog accepts. */
  diskFormats: DiskFormatPolicy;
  acceptedDiskFormats: readonly string[];
  logger: Logger;
}

/** What a slim request found or did. */
export type SlimOutcome = 'started' | 'already_running' | 'already_slimmed';

/** Object-key prefix of zips staged while they are unpacked (the reconciler sweeps any a dead node left). */
const STAGED_ZIP_PREFIX = 'edgegallery-zip';

/**
 * EdgeGallery's VM image files over the one catalog: each file is a Glance image written through
 * the ingest pipeline, its surface fields kept as namespaced attributes, its check and slim
 * state derived live from the imageops jobs whose requestIds the record keeps.
 */
export class FileManagementService implements FileStorer {
  constructor(private readonly deps: FileManagementDeps) {}

  /**
   * Stores one file (an upload, or a merge's assembled chunks): `.zip` files are staged in the
   * store, checked entry by entry and their first file entry becomes the image; then the check
   * starts. Whatever fails, no image row and no object stays behind.
   */
  async storeFile(context: RequestContext, request: StoreFileRequest): Promise<StoredFile> {
    assertAcceptedFileName(request.fileName);
    const target = priorityTarget(request.priority, this.deps.config.priorityStores, this.deps.stores);
    const source = limitSize(request.source);
    if (!isZipName(request.fileName)) return this.storeImage(context, request, target, source, request.contentLength);

    const { store } = target;
    const key = `${STAGED_ZIP_PREFIX}/${randomUUID()}`;
    const staged = await this.deps.ingest.writeObject({ store, key, source, signal: request.signal, commit: async () => ({ keep: true, result: null }) });
    try {
      const zip = await openZipImage(store, key, staged.data.size, { maxEntries: this.deps.config.zipMaxEntries, maxExpandedBytes: this.deps.config.zipMaxExpandedSize });
      try {
        const entry = await zip.open();
        return await this.storeImage(context, { ...request, fileName: zip.fileName }, target, entry, zip.size).catch((err: unknown) => {
          // the entry's own stream failing (it expands to other than its declared size, bad deflate data)
          if (err instanceof Error && !(err instanceof GlintError) && err.name !== 'StoreError') {
            throw new GlintError('FILE_ZIP_INVALID', 'Failed to decompress zip file', err.message, { cause: err });
          }
          throw err;
        });
      } finally {
        zip.close();
      }
    } finally {
      await this.deps.ingest.deleteQuietly(store, key);
    }
  }

  /** Creates the Glance image, streams the bytes in (format detected), records the fields, starts the check. */
  private async storeImage(context: RequestContext, request: StoreFileRequest, target: PriorityTarget, source: Readable, contentLength: number | undefined): Promise<StoredFile> {
    const { images, ingest, records, imageOps } = this.deps;
    const { fileName } = request;
    const image = await images.createImage(context, { name: fileName, containerFormat: 'bare' });
    let kept = false;
    try {
      const fields = { fileName, userId: request.userId, storageMedium: target.storageMedium, priority: request.priority };
      if (!(await records.setAttributes(image.id, fields))) fail('IMAGE_GONE', `Image ${image.id} was deleted while it was being stored.`);
      const detected = new DetectedFormat(this.deps.diskFormats, this.deps.acceptedDiskFormats);
      await ingest.write({
        image,
        store: target.store,
        key: image.id,
        source,
        contentLength,
        signal: request.signal,
        reserveAs: 'saving',
        headBytes: INSPECTION_HEAD_BYTES,
        check: detected.check,
        commit: (written) => {
          const diskFormat = detected.format;
          return { attributes: { status: 'active', diskFormat, ...digestAttributes({ ...image, diskFormat }, written) }, addLocations: [locationOf(written)] };
        },
      });
      const late = request.lateFields ? await request.lateFields : {};
      const latest = { ...fields };
      if (late.priority !== undefined && late.priority !== request.priority) {
        const lateTarget = priorityTarget(late.priority, this.deps.config.priorityStores, this.deps.stores);
        // the bytes are in one store already; moving them is not worth a second copy of a big file
        if (lateTarget.store !== target.store) fail('FILE_PRIORITY_REFUSED', 'fail to upload package');
        Object.assign(latest, { priority: late.priority, storageMedium: lateTarget.storageMedium });
      }
      if (late.userId !== undefined) latest.userId = late.userId;
      const started = await imageOps.startCheck(context, image.id);
      if (!(await records.setAttributes(image.id, { ...latest, requestIdCheck: started.requestId }))) {
        fail('IMAGE_GONE', `Image ${image.id} was deleted while it was being stored.`);
      }
      kept = true;
      const record: FileRecord = { imageId: image.id, uploadTime: image.createdAt, ...latest, requestIdCheck: started.requestId, requestIdCompress: null, slimRefused: false };
      return { record, checkStatus: started.status, checkMessage: started.msg };
    } finally {
      if (!kept) await this.discard(context, image.id);
    }
  }

  /** Deletes an image a failed store left (row and objects); logged, never thrown: the caller has an error to report. */
  private async discard(context: RequestContext, imageId: string): Promise<void> {
    try {
      await this.deps.images.deleteImage(context, imageId);
    } catch (err) {
      if (!isGlintError(err, 'IMAGE_NOT_FOUND')) this.deps.logger.error('failed to remove an image after a failed EdgeGallery upload', { imageId, error: String(err) });
    }
  }

  /** One record with its live state; FILE_NOT_FOUND with upstream's text for an unknown id. */
  async get(imageId: string): Promise<FileDetails> {
    const record = await this.deps.records.get(imageId);
    if (!record) fail('FILE_NOT_FOUND', `there is no record in database with imageId: ${imageId}`);
    return this.details(record);
  }

  async list(): Promise<FileDetails[]> {
    const records = await this.deps.records.list();
    return Promise.all(records.map((record) => this.details(record)));
  }

  /** Idempotent: an unknown id is a success. Removes the image everywhere, and a slim's output. */
  async delete(context: RequestContext, imageId: string): Promise<void> {
    const record = await this.deps.records.get(imageId);
    if (!record) return;
    const compress = record.requestIdCompress && !isClaim(record.requestIdCompress) ? await this.deps.imageOps.compressReport(record.requestIdCompress) : null;
    try {
      await this.deps.images.deleteImage(context, imageId);
    } catch (err) {
      if (!isGlintError(err, 'IMAGE_NOT_FOUND')) throw err;
    }
    if (compress?.outputImageId) await this.discard(context, compress.outputImageId);
  }

  /** The bytes a download serves: the slimmed image's once slimmed, under the original fileName. */
  async download(context: RequestContext, imageId: string, resolveRange: RangeResolver): Promise<{ fileName: string; read: ImageDataRead }> {
    const record = await this.deps.records.get(imageId);
    if (!record) fail('FILE_NOT_FOUND', "file path doesn't exist");
    const details = await this.details(record);
    const served = details.slimStatus === 2 && details.compress?.outputImageId ? details.compress.outputImageId : imageId;
    return { fileName: record.fileName, read: await this.deps.data.read(context, served, resolveRange) };
  }

  /** Slims (compresses) the image with a re-check of the output; see SlimStatus for how it is tracked. */
  async slim(context: RequestContext, imageId: string): Promise<SlimOutcome> {
    const { records, imageOps } = this.deps;
    const record = await records.get(imageId);
    if (!record) fail('FILE_NOT_FOUND', "file path doesn't exist");
    const details = await this.details(record);
    if (details.slimStatus === 1) return 'already_running';
    if (details.slimStatus === 2) return 'already_slimmed';
    const originalCheck = record.requestIdCheck ? await imageOps.checkReport(record.requestIdCheck) : null;
    if (originalCheck?.status === 5) {
      await records.setAttributes(imageId, { slimRefused: 'true', requestIdCompress: null });
      fail('FILE_SLIM_UNSUPPORTED', 'This image cannot be slimmed because the type of image is not supported.');
    }
    // one slim at a time: claim the record first (two concurrent requests start one compress)
    const claim = `${CLAIM_PREFIX}${Date.now()}:${randomUUID()}`;
    if (!(await records.swapAttributes(imageId, 'requestIdCompress', record.requestIdCompress, { requestIdCompress: claim, slimRefused: null }))) {
      return (await records.get(imageId)) ? 'already_running' : fail('FILE_NOT_FOUND', "file path doesn't exist");
    }
    // a failed slim may have left an output behind (its re-check failed): the new one replaces it
    if (details.compress?.outputImageId) await this.discard(context, details.compress.outputImageId);
    let started: JobStarted;
    try {
      started = await imageOps.startCompress(context, imageId, compressedName(imageId, record.fileName), { recheck: true });
    } catch (err) {
      await records.swapAttributes(imageId, 'requestIdCompress', claim, { requestIdCompress: null, slimRefused: 'true' });
      throw err;
    }
    if (started.status !== 0) {
      // imageops keeps a record of the refusal: compressInfo shows it
      await records.swapAttributes(imageId, 'requestIdCompress', claim, { slimRefused: 'true', requestIdCompress: started.requestId });
      throw new GlintError('FILE_SLIM_FAILED', 'Before asyCall imageOps, imageOps compress failed', started.msg);
    }
    if (!(await records.swapAttributes(imageId, 'requestIdCompress', claim, { requestIdCompress: started.requestId }))) fail('FILE_NOT_FOUND', "file path doesn't exist");
    return 'started';
  }

  /** The record with its jobs' reports, fetched now (never stored copies). */
  private async details(record: FileRecord): Promise<FileDetails> {
    const { imageOps } = this.deps;
    const compress = record.requestIdCompress && !isClaim(record.requestIdCompress) ? await imageOps.compressReport(record.requestIdCompress) : null;
    const recheck = compress?.recheckRequestId ? await imageOps.checkReport(compress.recheckRequestId) : null;
    const check = recheck ?? (record.requestIdCheck ? await imageOps.checkReport(record.requestIdCheck) : null);
    const slimStatus = slimStatusOf(record, compress, recheck);
    const name = slimStatus === 2 ? compressedName(record.imageId, record.fileName) : saveName(record.imageId, record.fileName);
    return { record, slimStatus, check, compress, saveName: name };
  }
}

/**
 * 0 never slimmed · 1 the compress or its re-check is running · 2 the compress completed and the
 * re-check found the output consistent (status 0) · 3 anything else (refused before or by
 * imageops, failed, no space, timed out, re-check not 0).
 */
export function slimStatusOf(record: FileRecord, compress: CompressReport | null, recheck: CheckReport | null): SlimStatus {
  if (record.slimRefused) return 3;
  const claim = record.requestIdCompress;
  if (claim !== null && isClaim(claim)) return claimAge(claim) < CLAIM_STALE_MS ? 1 : 3;
  if (compress === null) return 0;
  if (compress.status === 1) return 1;
  if (compress.status !== 0) return 3;
  if (recheck === null || recheck.status === 4) return 1;
  return recheck.status === 0 ? 2 : 3;
}

/**
 * requestIdCompress while a slim is being started: `claim:<ms>:<uuid>`. A claim older than
 * CLAIM_STALE_MS belongs to a node that died between claiming and starting: the slim failed.
 */
const CLAIM_PREFIX = 'claim:';
const CLAIM_STALE_MS = 5 * 60_000;

function isClaim(requestId: string): boolean {
  return requestId.startsWith(CLAIM_PREFIX);
}

function claimAge(claim: string): number {
  return Date.now() - Number(claim.slice(CLAIM_PREFIX.length).split(':')[0]);
}

/** Fails the stream once it carries 500 GiB (upstream's largest file is one byte less). */
function limitSize(source: Readable): Readable {
  let seen = 0;
  const limiter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > MAX_FILE_BYTES) callback(new GlintError('FILE_TOO_LARGE', 'File size is larger than max size'));
      else callback(null, chunk);
    },
  });
  pipeline(source, limiter).catch(() => undefined);
  return limiter;
}
