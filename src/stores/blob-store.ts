import type { Readable } from 'node:stream';
import type { ByteRange } from '../lib/byte-range';

/** For the drivers and their callers below the domain; everything else imports it from lib. */
export type { ByteRange } from '../lib/byte-range';

/**
 * The one streaming interface every storage backend implements. Keys are opaque strings made of
 * `[A-Za-z0-9._/-]`; a driver maps them to paths or object names. Drivers throw `StoreError`
 * only, never HTTP or domain errors.
 */
export interface BlobStore {
  /** The configured store id (`fast`, `cold`, … or the single-store default). */
  readonly id: string;
  /** Driver type as Glance names it: `file` or `s3`. */
  readonly type: StoreType;
  readonly description?: string;

  /**
   * Streams `source` into `key` and returns what was written with its md5 and sha512.
   * Nothing is visible under `key` unless the promise resolves: on any failure (source error,
   * abort, size limit, backend error) every temporary object is removed before it rejects.
   * An existing object under `key` is replaced atomically.
   *
   * Rejects with StoreError `too_large` as soon as more than `maxSize` bytes arrive,
   * `size_mismatch` when `expectedSize` is given and the byte count differs, `aborted` when
   * `signal` fires, `storage_full` when the backend has no room left for the bytes (a full disk or
   * quota: not the caller's limits), and rethrows the source's own error when the source fails.
   */
  put(key: string, source: Readable, options?: PutOptions): Promise<PutResult>;

  /**
   * Opens `key` for reading. `range` is inclusive on both ends and must lie within the object
   * (callers resolve ranges against `stat` or the catalog's size first). Rejects with
   * StoreError `not_found` when the key does not exist. The caller reads `body` to its end or
   * destroys it: until then the driver may hold a file descriptor or a connection for it.
   */
  get(key: string, range?: ByteRange): Promise<BlobReadResult>;

  /**
   * Optional, only for drivers whose objects are files this node can open (filesystem): the
   * absolute path of the committed object under `key`, for tools that must read a file (qemu-img).
   * The file is for reading only. A later put replaces it by a rename, so a reader that already
   * opened it keeps the bytes it opened. Rejects with StoreError `not_found` when missing.
   */
  localPath?(key: string): Promise<string>;

  /** Size of `key`; rejects with StoreError `not_found` when missing. */
  stat(key: string): Promise<{ size: number }>;

  /** Removes `key`. Removing a missing key succeeds (deletes are idempotent). */
  delete(key: string): Promise<void>;

  /** Every committed key starting with `prefix` (all keys when omitted), in no particular order. */
  list(prefix?: string): AsyncIterable<string>;

  /**
   * When the object under `key` was last written (the backend's clock, at its granularity: S3
   * gives whole seconds). Rejects with StoreError `not_found` when missing.
   */
  lastModified(key: string): Promise<Date>;

  /**
   * Removes what puts that never finished left behind: a put whose process died keeps its
   * temporary state (a filesystem temp file, an S3 multipart upload) for ever, since only a live
   * put cleans up after itself. Removes each temporary that has seen no write since `olderThan`
   * (filesystem: the temp file's mtime; S3: the upload's initiation, as S3 reports no later
   * activity) unless `inUse(key)` says a live put may still own it (asked for the put's key,
   * when the driver knows it). Committed objects are never touched. A put whose temporary is
   * removed under it rejects and leaves nothing. Resolves with the number removed; safe to run
   * on several nodes at once (a temporary another sweep removed first is not counted).
   */
  sweepTemporary(options: SweepOptions): Promise<number>;

  /** What the driver is and how it is set up, in its own terms (no API's names or units). */
  details(): StoreDetails;

  /** Releases clients and handles. */
  close(): Promise<void>;
}

export type StoreType = 'file' | 's3';

/** A store's description, one shape per driver type. */
export type StoreDetails = FileStoreDetails | S3StoreDetails;

export interface FileStoreDetails {
  type: 'file';
  /** Absolute directory holding the objects. */
  dataDir: string;
  /** Configured read chunk size in bytes. */
  chunkSize: number;
  /** Whether runs of zeros are left as holes (sparse files) instead of written; never, today. */
  sparseFiles: boolean;
}

export interface S3StoreDetails {
  type: 's3';
  endpoint: string;
  bucket: string;
  /** Bytes: the configured large-object size (only reported; see S3Store for when parts are used). */
  largeObjectSize: number;
  /** Bytes per part of a multipart upload. */
  partSize: number;
  /** Parts uploaded at once. */
  concurrency: number;
}

export interface PutOptions {
  /** The exact number of bytes the source must deliver. */
  expectedSize?: number;
  /** The most bytes accepted before failing with `too_large`. */
  maxSize?: number;
  signal?: AbortSignal;
}

export interface SweepOptions {
  olderThan: Date;
  /** True when the put to `key` may still be running somewhere; its temporaries are kept. */
  inUse?(key: string): Promise<boolean>;
}

export interface PutResult {
  size: number;
  /** hex */
  md5: string;
  /** hex */
  sha512: string;
}

export interface BlobReadResult {
  body: Readable;
  /**
   * The same bytes as `body`, when the driver already holds all of them in memory (a small read).
   * A caller that takes them reads nothing from `body` and need not destroy it.
   */
  readonly bytes?: Buffer;
  /** Bytes `body` will deliver. */
  length: number;
  /** Size of the whole object. */
  totalSize: number;
}

export type StoreErrorKind =
  | 'not_found'
  /** More bytes than the caller's `maxSize`. */
  | 'too_large'
  | 'size_mismatch'
  | 'aborted'
  | 'write_denied'
  /** The backend has no room left (a full disk, a filesystem quota); says nothing of the caller's limits. */
  | 'storage_full'
  | 'unavailable'
  | 'invalid_key';

export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    readonly storeId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

export function isStoreError(err: unknown, kind?: StoreErrorKind): err is StoreError {
  return err instanceof StoreError && (kind === undefined || err.kind === kind);
}

const KEY_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
/** A `.` or `..` segment. */
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/;

/** Keys never contain `..` segments or empty segments, so no driver can be steered outside its root. */
export function assertValidKey(key: string, storeId: string): void {
  if (!KEY_PATTERN.test(key) || DOT_SEGMENT.test(key)) {
    throw new StoreError('invalid_key', `invalid object key: ${JSON.stringify(key)}`, storeId);
  }
}
