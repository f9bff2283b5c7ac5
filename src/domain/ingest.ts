import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { LimitsConfig } from '../config/types';
import { DigestTap } from '../lib/digest-tap';
import { HeadCapture, type HeadHooks } from '../lib/head-capture';
import type { Logger } from '../lib/logger';
import type { BlobStore, PutResult } from '../stores/blob-store';
import { StoreError } from '../stores/blob-store';
import { GlintError, fail } from './errors';
import { assertTransition, type Image, type ImageStatus } from './image';
import type { ImageChanges, ImageRepository } from './repositories';
import { DEFAULT_WRITE_LEASE_MS, keepWriteLease, newWriteLease } from './write-lease';

export interface IngestDeps {
  images: ImageRepository;
  limits: LimitsConfig;
  logger: Logger;
  /** How long a reserved write's lease holds without renewal (ms; default 60 s). */
  writeLeaseMs?: number;
}

/** What a finished write put where, with its digests. */
export interface IngestedData {
  storeId: string;
  key: string;
  size: number;
  /** hex */
  md5: string;
  /** hex */
  sha512: string;
  /** The first `headBytes` bytes of the data (empty when none were asked for). */
  head: Buffer;
  /** hex; only for writes that asked for it (ObjectIngestRequest.sha256). */
  sha256?: string;
}

/**
 * A write whose object belongs to a record other than a Glance image's data (a container image's
 * big data): no reservation, no quota (such records have no owner), the image size cap still
 * applies. The caller's `commit` records the object conditionally once it is fully written.
 */
export interface ObjectIngestRequest<T> {
  store: BlobStore;
  /** A fresh key: the commit decides whether anything refers to it. */
  key: string;
  source: Readable;
  signal?: AbortSignal;
  /** Also compute the sha256 of the bytes on the way (IngestedData.sha256). */
  sha256?: boolean;
  /**
   * Records the written object. `keep: false` (nothing refers to it, e.g. the same bytes were
   * already recorded) and a rejection both delete the object before `writeObject` settles.
   */
  commit(data: IngestedData): Promise<{ keep: boolean; result: T }>;
}

export interface IngestRequest {
  /** The image as the caller read it: its status, owner (quota) and id bound the write. */
  image: Image;
  store: BlobStore;
  key: string;
  source: Readable;
  /** Declared length, if known: refused up front when it cannot fit the owner's quota. */
  contentLength?: number;
  /** The exact byte count the data must have; more or fewer fail the write with SIZE_MISMATCH. */
  expectedSize?: number;
  signal?: AbortSignal;
  /**
   * Reserve the image before writing: a conditional change from its current status to this one,
   * checked against the status table, taking a write lease that is renewed while the bytes stream
   * and cleared by the commit or the release (see write-lease.ts; the reconciler recovers an
   * image whose lease expired). A write whose lease is lost (the image was deleted or recovered)
   * stops at once. On failure the image goes back to the status it had.
   */
  reserveAs?: ImageStatus;
  /** The status the image must still have when the write commits (default: `reserveAs`). */
  commitIf?: ImageStatus | readonly ImageStatus[];
  /** How many leading bytes to keep for format inspection (default 0). */
  headBytes?: number;
  /**
   * Checks of the data as it streams (disk-format inspection): a throw from `onHead` (run once the
   * head is in, before more is written) or `onEnd` (before the data ends) fails the write with that
   * error, and the object is never committed. None: the bytes pass unchecked.
   */
  check?: DataCheck | null;
  /** The changes committed together with the data, in one conditional update. */
  commit(data: IngestedData): ImageChanges;
  /** Messages for the two races a write can lose (the image changed or went away meanwhile). */
  lost?: { reserve?: string; commit?: string };
}

/**
 * The one way image data gets written: reserve (with a write lease) → stream into a store under
 * the size cap and the owner's quota, hashing md5 + sha512 and keeping the head → commit the
 * location, digests and status in one update conditional on the lease. Whatever fails, nothing
 * stays behind: the object is deleted and the reservation released, in `finally`, before the
 * error reaches the caller; a node that dies mid-write leaves its lease to expire and the
 * reconciler to recover the image and sweep what it wrote.
 */
export class IngestPipeline {
  constructor(private readonly deps: IngestDeps) {}

  async write(request: IngestRequest): Promise<{ image: Image; data: IngestedData }> {
    const { image, store, key, reserveAs } = request;
    const id = image.id;
    const reservedFrom = image.status;
    const leaseMs = this.deps.writeLeaseMs ?? DEFAULT_WRITE_LEASE_MS;
    const holder = reserveAs === undefined ? null : randomUUID();
    if (reserveAs !== undefined && holder !== null) {
      assertTransition(reservedFrom, reserveAs);
      const reserved = await this.deps.images.update(id, { attributes: { status: reserveAs }, writeLease: newWriteLease(holder, leaseMs) }, { status: reservedFrom });
      if (!reserved) fail('IMAGE_UPLOAD_RACE_LOST', request.lost?.reserve ?? `Image ${id} was changed or deleted before its data could be written.`);
    }
    const commitIf = request.commitIf ?? reserveAs;
    const leaseLost = new AbortController();
    const stopLease = holder === null ? () => undefined : keepWriteLease(this.deps.images, id, holder, leaseMs, () => leaseLost.abort(), this.deps.logger);
    const signal = request.signal ? AbortSignal.any([request.signal, leaseLost.signal]) : leaseLost.signal;
    let written = false;
    let committed = false;
    // the commit's update threw: it may have applied all the same (the answer was lost)
    let commitUnsettled = false;
    let allowance: UploadAllowance | null = null;
    try {
      allowance = await this.allowance(image, request.contentLength);
      const head = new HeadCapture(Math.max(request.headBytes ?? 0, request.check?.headBytes ?? 0), request.check ?? {});
      const result = await this.put(store, key, request.source, head, { maxSize: allowance.maxSize, expectedSize: request.expectedSize, signal });
      written = true;
      await this.checkQuotaAfterWrite(image, result.size);
      const data: IngestedData = { storeId: store.id, key, size: result.size, md5: result.md5, sha512: result.sha512, head: head.head };
      const changes = holder === null ? request.commit(data) : { ...request.commit(data), writeLease: null };
      const condition = commitIf === undefined ? undefined : holder === null ? { status: commitIf } : { status: commitIf, writeLeaseHolder: holder };
      let after: Image | null;
      try {
        after = await this.deps.images.update(id, changes, condition);
      } catch (err) {
        commitUnsettled = true;
        throw err;
      }
      if (!after) fail('IMAGE_GONE', request.lost?.commit ?? `Image ${id} was deleted while its data was being written.`);
      committed = true;
      return { image: after, data };
    } catch (err) {
      request.source.destroy();
      if (leaseLost.signal.aborted) throw await this.leaseLostError(id, request.lost?.commit, err);
      throw translateStoreError(err, this.deps.limits, allowance);
    } finally {
      stopLease();
      if (!committed && commitUnsettled && !(holder !== null && (await this.stillHolds(id, holder, leaseMs)))) {
        // Whether the commit applied is unknown: deleting the object could lose an image the
        // catalog now calls active. The reconciler deletes it later if no row refers to it, and
        // puts the image back to queued once the lease (if it is still there) expires.
        this.deps.logger.warn('image data write: commit outcome unknown; the object is left to the reconciler', { imageId: id, storeId: store.id, key });
      } else if (!committed) {
        // The object goes before the status: once the image is back to its old status another
        // write may start, and it must not find (or lose) our object under the same key.
        if (written) await this.deleteQuietly(store, key);
        if (reserveAs !== undefined && holder !== null) await this.release(id, reserveAs, reservedFrom, holder);
      }
    }
  }

  /** Why a write stopped when its lease went: its image was deleted, or its write was recovered. */
  private async leaseLostError(id: string, deletedMessage: string | undefined, cause: unknown): Promise<GlintError> {
    const image = await this.deps.images.get(id).catch(() => null);
    if (image === null) return new GlintError('IMAGE_GONE', deletedMessage ?? `Image ${id} was deleted while its data was being written.`, undefined, { cause });
    return new GlintError('IMAGE_UPLOAD_RACE_LOST', `The write of image ${id} lost its lease (it was not renewed in time) and was given up.`, undefined, { cause });
  }

  /**
   * The same pipeline for an object that is not a Glance image's data: stream under the size cap
   * (hashing md5 + sha512, and sha256 when asked), then the caller's conditional commit. Whatever
   * fails, or when the commit does not keep it, the object is deleted in `finally`.
   */
  async writeObject<T>(request: ObjectIngestRequest<T>): Promise<{ data: IngestedData; result: T }> {
    const { store, key } = request;
    let written = false;
    let kept = false;
    try {
      const head = new HeadCapture(0);
      const tap = request.sha256 ? new DigestTap('sha256') : undefined;
      const result = await this.put(store, key, request.source, head, { maxSize: this.deps.limits.imageSizeCap, signal: request.signal }, tap);
      written = true;
      const data: IngestedData = { storeId: store.id, key, size: result.size, md5: result.md5, sha512: result.sha512, head: head.head };
      if (tap) data.sha256 = tap.digest;
      const outcome = await request.commit(data);
      kept = outcome.keep;
      return { data, result: outcome.result };
    } catch (err) {
      request.source.destroy();
      throw translateStoreError(err, this.deps.limits, null);
    } finally {
      if (written && !kept) await this.deleteQuietly(store, key);
    }
  }

  /** Whether `holder` still holds the write lease (so a commit that threw did not apply: it clears it). */
  private async stillHolds(id: string, holder: string, leaseMs: number): Promise<boolean> {
    try {
      return await this.deps.images.renewWriteLease(id, holder, new Date(Date.now() + leaseMs));
    } catch {
      return false;
    }
  }

  /** Bytes a write for `image` may store: the image size cap, and its owner's remaining quota. */
  async allowance(image: Image, contentLength: number | undefined): Promise<UploadAllowance> {
    const { imageSizeCap, userStorageQuota } = this.deps.limits;
    // refused before a byte is read (and before an S3 store sizes its parts by the declared length)
    if (contentLength !== undefined && contentLength > imageSizeCap) {
      fail('IMAGE_SIZE_CAP_EXCEEDED', `The incoming image is too large: ${contentLength} bytes declared, the image_size_cap is ${imageSizeCap} bytes.`);
    }
    const allowance: UploadAllowance = { maxSize: imageSizeCap, limitedBy: 'size_cap' };
    if (userStorageQuota > 0 && image.owner !== null) {
      const used = await this.deps.images.storageUsage(image.owner, image.id);
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

  /** What `owner` stores against `user_storage_quota`; null when no quota is set (or no owner). */
  async storageUsage(owner: string | null): Promise<{ usedBytes: number; quotaBytes: number } | null> {
    const quotaBytes = this.deps.limits.userStorageQuota;
    if (quotaBytes <= 0) return null;
    return { usedBytes: owner === null ? 0 : await this.deps.images.storageUsage(owner), quotaBytes };
  }

  /** Removes an object, logging (not throwing) when the store refuses: callers are cleaning up. */
  async deleteQuietly(store: BlobStore, key: string): Promise<void> {
    try {
      await store.delete(key);
    } catch (err) {
      this.deps.logger.error('failed to remove image data', { storeId: store.id, key, error: String(err) });
    }
  }

  private async release(id: string, reservedAs: ImageStatus, back: ImageStatus, holder: string): Promise<void> {
    try {
      await this.deps.images.update(
        id,
        { attributes: { status: back, size: null, virtualSize: null }, writeLease: null },
        { status: reservedAs, writeLeaseHolder: holder },
      );
    } catch (err) {
      // the reconciler puts images stuck in a reserved status back once their lease expires
      this.deps.logger.error('failed to release an image after a failed write', { imageId: id, status: reservedAs, error: String(err) });
    }
  }

  private async checkQuotaAfterWrite(image: Image, size: number): Promise<void> {
    const quota = this.deps.limits.userStorageQuota;
    if (quota <= 0 || image.owner === null) return;
    const used = await this.deps.images.storageUsage(image.owner, image.id);
    if (used + size > quota) fail('STORAGE_QUOTA_EXCEEDED', 'Denying attempt to upload image because it exceeds the quota.');
  }

  private async put(
    store: BlobStore,
    key: string,
    source: Readable,
    head: HeadCapture,
    options: { maxSize: number; expectedSize?: number; signal?: AbortSignal },
    digest?: DigestTap,
  ): Promise<PutResult> {
    // The store reads the last stage; a failing source is relayed to it so the put rejects.
    const last = digest ?? head;
    const tapped = (digest ? pipeline(source, head, digest) : pipeline(source, head)).catch((err: unknown) => {
      last.destroy(err as Error);
    });
    try {
      return await store.put(key, last, options);
    } finally {
      await tapped;
    }
  }
}

/** Hooks on the head and tail of the data a write streams, and how much head they need. */
export interface DataCheck extends HeadHooks {
  headBytes: number;
}

export interface UploadAllowance {
  maxSize: number;
  limitedBy: 'size_cap' | 'quota';
}

/** Store failures in domain terms; `too_large` is reported against the limit that bound the write. */
export function translateStoreError(err: unknown, limits: LimitsConfig, allowance: UploadAllowance | null): unknown {
  if (!(err instanceof StoreError)) {
    if (err instanceof GlintError) return err;
    if (isAbortLike(err)) return new GlintError('UPLOAD_ABORTED', 'The client closed the connection during the upload.', undefined, { cause: err });
    return err;
  }
  const withCause = { cause: err };
  switch (err.kind) {
    case 'too_large':
      if (allowance?.limitedBy === 'quota') {
        return new GlintError('STORAGE_QUOTA_EXCEEDED', 'Denying attempt to upload image because it exceeds the quota.', undefined, withCause);
      }
      return new GlintError('IMAGE_SIZE_CAP_EXCEEDED', `Image exceeds the storage quota: the image is larger than the image_size_cap of ${limits.imageSizeCap} bytes.`, undefined, withCause);
    case 'storage_full':
      return new GlintError('STORAGE_FULL', `Image storage media is full: ${err.message}`, undefined, withCause);
    case 'aborted':
      return new GlintError('UPLOAD_ABORTED', 'The client closed the connection during the upload.', undefined, withCause);
    case 'size_mismatch':
      return new GlintError('SIZE_MISMATCH', err.message, undefined, withCause);
    case 'write_denied':
      return new GlintError('STORE_WRITE_DENIED', `Insufficient permissions on image storage media: ${err.message}`, undefined, withCause);
    case 'not_found':
      return new GlintError('IMAGE_DATA_NOT_FOUND', err.message, undefined, withCause);
    default:
      return new GlintError('STORE_UNAVAILABLE', `The image store is unavailable: ${err.message}`, undefined, withCause);
  }
}

function isAbortLike(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ABORT_ERR' || (err as Error | null)?.name === 'AbortError';
}
