import type { StoredObject } from '../stored-object';

/**
 * A chunked upload staged in a blob store: its chunks are objects recorded in the catalog, so any
 * node may take a chunk, cancel the upload or merge it. Named by the surface that accepted it and
 * the identifier the client chose.
 */
export interface ChunkedUpload {
  id: string;
  surface: string;
  clientKey: string;
  /** The store every chunk of the upload is in. */
  storeId: string;
  /** receiving: chunks are accepted; merging: one merge owns the upload, nothing else changes it. */
  status: ChunkedUploadStatus;
  createdAt: Date;
  updatedAt: Date;
  /** When the upload is abandoned unless a chunk (or a running merge's renewal) pushes it back. */
  expiresAt: Date;
}

export type ChunkedUploadStatus = 'receiving' | 'merging';

/** One staged chunk: the object holding it and what was written. */
export interface UploadChunk {
  /** 1-based, from the part's name (`<index>.part`). */
  index: number;
  objectKey: string;
  size: number;
  /** hex */
  md5: string;
}

/** The upload a chunk, cancel or merge names. */
export interface UploadName {
  surface: string;
  clientKey: string;
}

export interface NewChunk {
  index: number;
  objectKey: string;
  size: number;
  md5: string;
}

export interface PutChunkOptions {
  /** Store of the chunk's object; an upload created by this chunk records it. */
  storeId: string;
  owner: string | null;
  userId: string | null;
  now: Date;
  /** The upload's new expiry. */
  expiresAt: Date;
}

/** What a merge claimed: the upload (now merging) and its chunks in index order. */
export interface ClaimedMerge {
  upload: ChunkedUpload;
  chunks: UploadChunk[];
}

/**
 * Chunked uploads in the catalog. Every change is conditional on the upload's status (and, for
 * expiry, its expiry), so nodes never need to coordinate: of two concurrent changes of one upload
 * exactly one applies, and the loser learns it from the result.
 */
export interface ChunkedUploadRepository {
  /**
   * Records chunk `chunk.index` of the upload named `name`, creating the upload (receiving) when
   * there is none, and moves its expiry to `options.expiresAt`. A chunk already recorded at that
   * index is replaced; its object is returned for the caller to delete (the catalog no longer
   * refers to it). Rejects with CHUNKED_UPLOAD_BUSY when the upload is being merged: nothing is
   * recorded and `chunk.objectKey` stays the caller's to delete.
   */
  putChunk(name: UploadName, chunk: NewChunk, options: PutChunkOptions): Promise<{ replaced: StoredObject | null }>;

  /** The upload named `name`, or null. */
  find(name: UploadName): Promise<ChunkedUpload | null>;

  /** The upload's chunks in index order (none for an unknown upload). */
  chunks(uploadId: string): Promise<UploadChunk[]>;

  /**
   * receiving → merging, with a new expiry, and the chunks as they were at that moment; null when
   * the upload is not receiving (absent, or another merge owns it). Chunks recorded before the
   * change are in the result; a chunk arriving after it is refused (CHUNKED_UPLOAD_BUSY).
   */
  claimMerge(name: UploadName, expiresAt: Date, now: Date): Promise<ClaimedMerge | null>;

  /** Moves the expiry of an upload still merging; false when it is not (removed meanwhile). */
  renewMerge(uploadId: string, expiresAt: Date): Promise<boolean>;

  /** merging → receiving (a merge failed; the chunks stay for another try); false when not merging. */
  releaseMerge(uploadId: string, expiresAt: Date, now: Date): Promise<boolean>;

  /**
   * Deletes the upload and its chunk rows if `condition` holds, returning the objects the chunks
   * were in, for the caller to delete. Null (nothing deleted) when the upload is absent or the
   * condition failed.
   */
  remove(uploadId: string, condition: RemoveCondition): Promise<StoredObject[] | null>;

  /** Up to `limit` uploads, in any status, whose expiry is before `now`. */
  findExpired(now: Date, limit: number): Promise<ChunkedUpload[]>;
}

export interface RemoveCondition {
  /** The upload must be in this status. */
  status?: ChunkedUploadStatus;
  /** The upload's expiry must be before this instant. */
  expiredBefore?: Date;
}
