import type { Readable } from 'node:stream';
import type { CheckReport, CompressReport } from '../imageops/contract';

/**
 * The EdgeGallery file-management records (`/image-management/v1`). One record is one Glance
 * image (status active, size, checksum, os_hash_value, disk_format detected from the data,
 * container_format bare, name = fileName); the surface's own fields live beside it as namespaced
 * attributes that Glance never renders.
 */

/** The storage medium EdgeGallery reports for the default store (upstream's local directory). */
export const DEFAULT_STORAGE_MEDIUM = '/usr/app/vmImage/';

/** slimStatus: 0 never slimmed · 1 slimming (compress or its re-check running) · 2 slimmed · 3 failed. */
export type SlimStatus = 0 | 1 | 2 | 3;

/** The attributes the surface keeps for an image (namespace `edgegallery`). */
export interface FileAttributes {
  fileName: string;
  userId: string;
  storageMedium: string;
  priority: string;
  /** The check queued right after the upload (imageops requestId), if one was started. */
  requestIdCheck: string | null;
  /** The latest slim's compress job, if the image was ever slimmed. */
  requestIdCompress: string | null;
  /** Set when a slim was refused before any compress started (unsupported image type). */
  slimRefused: boolean;
}

/** What `storeFile` and the queries return: the attributes, the image they belong to, and live job state. */
export interface FileRecord extends FileAttributes {
  imageId: string;
  /** When the image was created. */
  uploadTime: Date;
}

/** The answer to an upload or a merge: the record and how the check's start went (imageops' POST answer). */
export interface StoredFile {
  record: FileRecord;
  /** 0 check started (in progress) · 1 the check could not start. */
  checkStatus: 0 | 1;
  checkMessage: string;
}

/** A record with the derived state of its jobs, as a query shows it. */
export interface FileDetails {
  record: FileRecord;
  slimStatus: SlimStatus;
  /** The check whose report describes the data served (the slim's re-check once slimmed); null when none ran. */
  check: CheckReport | null;
  /** The latest slim's compress; null when never slimmed. */
  compress: CompressReport | null;
  /** `<imageId><fileName>`, or `compressed<imageId><fileName>` once slimmed. */
  saveName: string;
}

export interface StoreFileRequest {
  /** The client's file name (an upload's part filename, a merge's `filename`); `.zip` is unpacked. */
  fileName: string;
  userId: string;
  /** The client's `priority`; mapped to a store by `[edgegallery] priority_stores`. */
  priority: string;
  /** The bytes, streamed once; never buffered whole. */
  source: Readable;
  /** Declared length, when known (quota pre-check only). */
  contentLength?: number;
  signal?: AbortSignal;
  /**
   * Form fields that arrived after the file part (multipart order is the client's): awaited once
   * the data is stored. A `priority` there that maps to another store than the one written to is
   * refused (nothing kept); a `userId` there replaces `userId`.
   */
  lateFields?: Promise<{ userId?: string; priority?: string }>;
}

/**
 * What a chunk merge needs from the file-management service (FileManagementService implements
 * it): store one file exactly as an upload does — `.zip` unpacked the same way, check started,
 * record written — and answer with the upload's reply. Refusals are GlintErrors with EG_* codes;
 * whatever fails, no image row and no object stays behind.
 */
export interface FileStorer {
  storeFile(context: import('../context').RequestContext, request: StoreFileRequest): Promise<StoredFile>;
}
