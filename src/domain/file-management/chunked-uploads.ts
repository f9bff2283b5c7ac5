import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from '../../lib/logger';
import type { BlobReadResult, BlobStore } from '../../stores/blob-store';
import type { RequestContext } from '../context';
import { GlintError, fail } from '../errors';
import type { IngestPipeline } from '../ingest';
import type { StoredObject } from '../stored-object';
import type { ChunkedUploadRepository, UploadChunk, UploadName } from './chunked-upload-repository';
import type { FileStorer, StoredFile } from './model';

/** The catalog's `surface` of EdgeGallery's chunked uploads. */
export const EDGEGALLERY_UPLOADS = 'edgegallery';
/** Chunk objects live under this prefix, each under a fresh key (never a client's name). */
export const CHUNK_KEY_PREFIX = 'chunks/';
/** Longest identifier or part name, in bytes (EdgeGallery's file-name limit). */
export const UPLOAD_NAME_MAX_BYTES = 128;
/** Highest part number: `<n>.part` with n from 1 to this. */
export const MAX_PART_NUMBER = 999_999;

const SAFE_NAME = /^[A-Za-z0-9._-]+$/;
const PART_NAME = /^([1-9][0-9]{0,5})\.part$/;
/** Expired uploads removed per sweep; more wait for the next. */
const SWEEP_BATCH = 100;
/**
 * Bytes a merge reads ahead of the write: the store's reads (one driver chunk each) overlap the
 * hashing and writing instead of waiting for them.
 */
const MERGE_READ_AHEAD_BYTES = 4 * 1024 * 1024;
/** Chunk objects deleted at once after a merge, cancel or expiry. */
const DELETE_CONCURRENCY = 8;

export interface ChunkedUploadDeps {
  uploads: ChunkedUploadRepository;
  /** Chunks are staged in `default`; an upload's chunks are read back from the store it records. */
  stores: { readonly default: BlobStore; get(id: string): BlobStore | undefined };
  ingest: Pick<IngestPipeline, 'writeObject' | 'deleteQuietly'>;
  /** Stores the merged file as an upload does (zip handling, check, record). */
  files: FileStorer;
  /** Whether a chunk's `priority` names a usable medium (the merge stores by it; chunks are staged in the default store). */
  acceptsPriority(priority: string): boolean;
  logger: Logger;
  /** Idle time after which an upload is abandoned and swept (ms; `[edgegallery] chunk_upload_expiry`). */
  expiryMs: number;
}

/** The form fields of a chunk upload. */
export interface ChunkFields {
  identifier?: string;
  priority?: string;
}

export interface ChunkRequest {
  /** Fields sent before the part: checked before anything is written. */
  fields: ChunkFields;
  /**
   * Every field, once the form has been read to its end (those after the part too; the client
   * chooses the order). The chunk is recorded only once they are in and valid; refused, its
   * object is deleted and nothing is recorded. Default: `fields`.
   */
  allFields?: Promise<ChunkFields>;
  /** The part's file name: `<n>.part`. */
  partName: string;
  source: Readable;
  signal?: AbortSignal;
}

export interface MergeRequest {
  identifier: string;
  fileName: string;
  userId: string;
  priority: string;
  signal?: AbortSignal;
}

/**
 * EdgeGallery's chunked upload on nodes that share only the catalog and the stores. Each chunk is
 * an object of its own in the default store, written through the ingest pipeline and recorded in
 * the catalog under (surface, identifier) and its part number, so chunks may arrive at any node
 * and any node may cancel or merge. The merge claims the upload (receiving → merging, one winner),
 * streams the chunk objects in part order into one `storeFile`, then removes the chunks; a failed
 * merge hands the upload back untouched. Abandoned uploads are swept by `sweepExpired`, which any
 * number of nodes may run at once.
 */
export class ChunkedUploadService {
  constructor(private readonly deps: ChunkedUploadDeps) {}

  /** Stages one chunk; a chunk already staged under the same part number is replaced (its object deleted). */
  async receiveChunk(context: RequestContext, request: ChunkRequest): Promise<void> {
    // the form may fail while the chunk streams: that is seen in the commit, which awaits it
    request.allFields?.catch(() => undefined);
    const index = partNumberOf(request.partName);
    this.checkChunkFields(request.fields, false);
    const store = this.deps.stores.default;
    const key = `${CHUNK_KEY_PREFIX}${randomUUID()}`;
    const { result: replaced } = await this.deps.ingest.writeObject({
      store,
      key,
      source: request.source,
      signal: request.signal,
      commit: async (data) => {
        const fields = this.checkChunkFields({ ...request.fields, ...(await request.allFields) }, true);
        const name = this.nameOf(fields.identifier);
        const now = new Date();
        const recorded = await this.deps.uploads.putChunk(
          name,
          { index, objectKey: key, size: data.size, md5: data.md5 },
          { storeId: store.id, owner: context.projectId, userId: context.userId, now, expiresAt: this.expiryFrom(now) },
        );
        return { keep: true, result: recorded.replaced };
      },
    });
    if (replaced) await this.deleteObjects([replaced]);
  }

  /** Removes the staged chunks of `identifier`; nothing staged is fine. Refused while a merge runs. */
  async cancel(identifier: string): Promise<void> {
    const name = this.nameOf(checkUploadName('identifier', identifier));
    const upload = await this.deps.uploads.find(name);
    if (!upload) return;
    const objects = await this.deps.uploads.remove(upload.id, { status: 'receiving' });
    if (objects === null) {
      // another cancel or the sweep removed it first (fine), or a merge owns it
      if ((await this.deps.uploads.find(name))?.status === 'merging') this.failBusy(identifier, 'and can no longer be cancelled');
      return;
    }
    await this.deleteObjects(objects);
  }

  /**
   * Streams the chunks 1.part … N.part in order into one stored file and removes them. Exactly one
   * of concurrent merges of an upload wins; the others fail with CHUNKED_UPLOAD_BUSY (while it
   * runs) or CHUNKED_UPLOAD_NOT_FOUND (once it is done). A gap in the part numbers fails with
   * CHUNKED_UPLOAD_INCOMPLETE; any failure leaves the chunks staged for another try.
   */
  async merge(context: RequestContext, request: MergeRequest): Promise<StoredFile> {
    const name = this.nameOf(checkUploadName('identifier', request.identifier));
    const now = new Date();
    const claimed = await this.deps.uploads.claimMerge(name, this.expiryFrom(now), now);
    if (!claimed) {
      if ((await this.deps.uploads.find(name))?.status === 'merging') this.failBusy(request.identifier, 'by another request');
      fail('CHUNKED_UPLOAD_NOT_FOUND', `No chunks are staged for upload ${request.identifier}.`);
    }
    const { upload, chunks } = claimed;
    let stored: StoredFile;
    try {
      stored = await this.mergeClaimed(context, request, upload.id, upload.storeId, chunks);
    } catch (err) {
      await this.deps.uploads.releaseMerge(upload.id, this.expiryFrom(new Date()), new Date()).catch((releaseError: unknown) => {
        // the upload stays merging until it expires; the sweep then removes it
        this.deps.logger.warn('chunked upload: could not hand a failed merge back', { uploadId: upload.id, error: String(releaseError) });
      });
      throw err;
    }
    try {
      const objects = await this.deps.uploads.remove(upload.id, { status: 'merging' });
      await this.deleteObjects(objects ?? []);
    } catch (err) {
      // the file is stored; the chunks go with the upload's expiry instead
      this.deps.logger.warn('chunked upload: merged, but the chunks could not be removed yet', { uploadId: upload.id, error: String(err) });
    }
    return stored;
  }

  /**
   * Removes every upload whose expiry passed: its rows (conditionally on the expiry still being
   * past, so a chunk that just arrived keeps it) and then its objects. Safe on every node at once.
   * Resolves with the number of uploads this call removed.
   */
  async sweepExpired(now = new Date()): Promise<number> {
    let removed = 0;
    for (const upload of await this.deps.uploads.findExpired(now, SWEEP_BATCH)) {
      try {
        const objects = await this.deps.uploads.remove(upload.id, { expiredBefore: now });
        if (objects === null) continue;
        await this.deleteObjects(objects);
        removed++;
        this.deps.logger.info('chunked upload expired; chunks removed', { surface: upload.surface, identifier: upload.clientKey, chunks: objects.length });
      } catch (err) {
        this.deps.logger.warn('chunked upload sweep could not remove an upload', { uploadId: upload.id, error: String(err) });
      }
    }
    return removed;
  }

  private async mergeClaimed(context: RequestContext, request: MergeRequest, uploadId: string, storeId: string, chunks: UploadChunk[]): Promise<StoredFile> {
    if (chunks.length === 0) fail('CHUNKED_UPLOAD_NOT_FOUND', `No chunks are staged for upload ${request.identifier}.`);
    const missing = firstMissingPart(chunks);
    if (missing !== null) {
      fail('CHUNKED_UPLOAD_INCOMPLETE', `Part ${missing}.part of upload ${request.identifier} is missing: the parts must be 1.part to ${chunks.length}.part.`);
    }
    const store = this.deps.stores.get(storeId);
    if (!store) fail('STORE_UNAVAILABLE', `The store ${storeId} holding the chunks of upload ${request.identifier} is not configured.`);
    const source = concatenateChunks(store, chunks);
    const lost = new AbortController();
    // the merge holds the upload by renewing its expiry; if that stops holding, the merge stops
    const renewal = setInterval(() => {
      this.deps.uploads.renewMerge(uploadId, this.expiryFrom(new Date())).then(
        (held) => {
          if (held) return;
          const reason = new GlintError('CHUNKED_UPLOAD_NOT_FOUND', `Upload ${request.identifier} expired while it was being merged.`);
          lost.abort(reason);
          source.destroy(reason);
        },
        (err: unknown) => this.deps.logger.warn('chunked upload: merge renewal failed', { uploadId, error: String(err) }),
      );
    }, Math.max(100, Math.floor(this.deps.expiryMs / 3)));
    renewal.unref();
    try {
      return await this.deps.files.storeFile(context, {
        fileName: request.fileName,
        userId: request.userId,
        priority: request.priority,
        source,
        contentLength: chunks.reduce((sum, chunk) => sum + chunk.size, 0),
        signal: request.signal ? AbortSignal.any([request.signal, lost.signal]) : lost.signal,
      });
    } finally {
      clearInterval(renewal);
      source.destroy();
    }
  }

  /** The fields that are there, checked; `complete`: the identifier must be there too. */
  private checkChunkFields(fields: ChunkFields, complete: boolean): { identifier: string } {
    if (fields.priority !== undefined && !this.deps.acceptsPriority(fields.priority)) fail('FILE_PRIORITY_REFUSED', 'fail to save chunk file part');
    if (fields.identifier === undefined && !complete) return { identifier: '' };
    return { identifier: checkUploadName('identifier', fields.identifier ?? '') };
  }

  private nameOf(identifier: string): UploadName {
    return { surface: EDGEGALLERY_UPLOADS, clientKey: identifier };
  }

  private failBusy(identifier: string, why: string): never {
    fail('CHUNKED_UPLOAD_BUSY', `Upload ${identifier} is being merged ${why}.`);
  }

  private expiryFrom(now: Date): Date {
    return new Date(now.getTime() + this.deps.expiryMs);
  }

  /** Deletes chunk objects the catalog no longer refers to; a failure is logged and left to the reconciler's orphan sweep. */
  private async deleteObjects(objects: readonly StoredObject[]): Promise<void> {
    const queue = [...objects];
    const worker = async () => {
      for (let object = queue.shift(); object; object = queue.shift()) {
        const store = this.deps.stores.get(object.storeId);
        if (store) await this.deps.ingest.deleteQuietly(store, object.key);
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, queue.length) }, worker));
  }
}

/**
 * `value` if it is a safe upload identifier or part name: 1–128 bytes of letters, digits, `.`,
 * `_` and `-`, no `..`, not only dots. Otherwise CHUNKED_UPLOAD_NAME_INVALID naming the problem.
 */
export function checkUploadName(what: 'identifier' | 'part name', value: string): string {
  const refuse = (problem: string): never => fail('CHUNKED_UPLOAD_NAME_INVALID', `The ${what} ${problem}.`);
  if (value.length === 0) refuse('is empty');
  if (value.includes('\0')) refuse('contains a NUL byte');
  if (value.includes('/')) refuse('contains "/"');
  if (value.includes('\\')) refuse('contains "\\"');
  if (value.includes('..')) refuse('contains ".."');
  if (Buffer.byteLength(value) > UPLOAD_NAME_MAX_BYTES) refuse(`is longer than ${UPLOAD_NAME_MAX_BYTES} bytes`);
  if (!SAFE_NAME.test(value)) refuse('may only contain letters, digits, ".", "_" and "-"');
  if (/^\.+$/.test(value)) refuse('is only dots');
  return value;
}

/** The part number of a chunk's file name `<n>.part` (n from 1), or CHUNKED_UPLOAD_NAME_INVALID. */
export function partNumberOf(partName: string): number {
  checkUploadName('part name', partName);
  const match = PART_NAME.exec(partName);
  if (!match) fail('CHUNKED_UPLOAD_NAME_INVALID', `The part name must be <n>.part with n a number from 1 to ${MAX_PART_NUMBER}, not "${partName}".`);
  return Number(match[1]);
}

/** The first part number missing from 1 … chunks.length (chunks in index order), or null. */
function firstMissingPart(chunks: readonly UploadChunk[]): number | null {
  for (let i = 0; i < chunks.length; i++) if (chunks[i].index !== i + 1) return i + 1;
  return null;
}

/**
 * The chunk objects one after another as one stream, opening the next while the current one is
 * read (a round trip saved per chunk on S3) and reading up to MERGE_READ_AHEAD_BYTES ahead of the
 * consumer. A chunk whose object is gone or changed size fails the stream. Destroying the stream
 * releases whatever is open.
 */
export function concatenateChunks(store: BlobStore, chunks: readonly UploadChunk[]): Readable {
  const open = (chunk: UploadChunk): Promise<BlobReadResult> => {
    const opened = store.get(chunk.objectKey);
    opened.catch(() => undefined);
    return opened;
  };
  async function* parts(): AsyncGenerator<Buffer> {
    let next: Promise<BlobReadResult> | null = chunks.length > 0 ? open(chunks[0]) : null;
    try {
      for (let i = 0; i < chunks.length; i++) {
        const read = await (next as Promise<BlobReadResult>);
        next = i + 1 < chunks.length ? open(chunks[i + 1]) : null;
        if (read.totalSize !== chunks[i].size) {
          read.body.destroy();
          throw new GlintError('IMAGE_DATA_NOT_FOUND', `Chunk ${chunks[i].index}.part changed size in the store (${read.totalSize} bytes, ${chunks[i].size} recorded).`);
        }
        if (read.bytes) {
          yield read.bytes;
          continue;
        }
        for await (const piece of read.body) yield piece as Buffer;
      }
    } finally {
      // a prefetched chunk nobody will read
      void next?.then((read) => read.body.destroy(), () => undefined);
    }
  }
  return Readable.from(parts(), { objectMode: false, highWaterMark: MERGE_READ_AHEAD_BYTES });
}
