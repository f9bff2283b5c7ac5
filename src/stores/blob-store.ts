import { Readable, type Writable } from 'node:stream';

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
   * `signal` fires, and rethrows the source's own error when the source fails.
   */
  put(key: string, source: Readable, options?: PutOptions): Promise<PutResult>;

  /**
   * Opens `key` for reading. `range` is inclusive on both ends and must lie within the object
   * (callers resolve ranges against `stat` or the catalog's size first). Rejects with
   * StoreError `not_found` when the key does not exist. The caller reads `body` to its end or
   * destroys it: until then the driver may hold a file descriptor or a connection for it.
   */
  get(key: string, range?: ByteRange): Promise<BlobReadResult>;

  /** Size of `key`; rejects with StoreError `not_found` when missing. */
  stat(key: string): Promise<{ size: number }>;

  /** Removes `key`. Removing a missing key succeeds (deletes are idempotent). */
  delete(key: string): Promise<void>;

  /** Every committed key starting with `prefix` (all keys when omitted), in no particular order. */
  list(prefix?: string): AsyncIterable<string>;

  /** Properties shown by `GET /v2/info/stores/detail`. */
  detailProperties(): Record<string, unknown>;

  /** Releases clients and handles. */
  close(): Promise<void>;
}

export type StoreType = 'file' | 's3';

export interface PutOptions {
  /** The exact number of bytes the source must deliver. */
  expectedSize?: number;
  /** The most bytes accepted before failing with `too_large`. */
  maxSize?: number;
  signal?: AbortSignal;
}

export interface PutResult {
  size: number;
  /** hex */
  md5: string;
  /** hex */
  sha512: string;
}

/** Inclusive byte range: `{start: 0, end: 0}` is the first byte. */
export interface ByteRange {
  start: number;
  end: number;
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

/**
 * A body that can also send itself into a Writable it then ends (a driver's fast path to an HTTP
 * response: its own buffers and reads, no stream machinery per chunk). `writeTo` is used instead
 * of reading the stream, never after; it resolves once `out` has finished, rejects when a read
 * fails (after destroying `out`) or `out` closes first, and leaves the body destroyed either way.
 */
export interface SelfWritingBody {
  writeTo(out: Writable): Promise<void>;
}

export function isSelfWriting(body: unknown): body is Readable & SelfWritingBody {
  return body instanceof Readable && typeof (body as Partial<SelfWritingBody>).writeTo === 'function';
}

export type StoreErrorKind = 'not_found' | 'too_large' | 'size_mismatch' | 'aborted' | 'write_denied' | 'unavailable' | 'invalid_key';

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
