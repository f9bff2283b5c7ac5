import type { ContainerImageRepository } from './container-images/repository';
import type { AlgorithmRepository } from './algorithms/algorithm-repository';
import type { MetadefRepository } from './metadefs/repository';
import type { ChunkedUploadRepository } from './file-management/chunked-upload-repository';
import type { Image, ImageMember, ImageStatus, MemberStatus } from './image';
import type { NewTask, Task, TaskCompletion, TaskStatus } from './jobs/task';
import type { StoredObject } from './stored-object';

/**
 * The catalog seen by the service. One implementation (knex) serves SQLite and MySQL; nothing
 * outside src/catalog touches SQL. All methods are safe to call from many nodes at once:
 * status changes and edits go through conditional updates, never read-modify-write.
 */
export interface Catalog {
  readonly images: ImageRepository;
  readonly members: MemberRepository;
  readonly tasks: TaskRepository;
  readonly algorithms: AlgorithmRepository;
  /** Container images of the image-store library (never Glance images). */
  readonly containerImages: ContainerImageRepository;
  /** Glance's metadata definitions (namespaces, objects, properties, tags, resource types). */
  readonly metadefs: MetadefRepository;
  /** Chunked uploads staged in a store, chunk by chunk (EdgeGallery's chunk upload and merge). */
  readonly chunkedUploads: ChunkedUploadRepository;
  /** Runs pending migrations. */
  migrate(): Promise<void>;
  /** Cheap round trip used by health checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type NewImage = Omit<Image, 'createdAt' | 'updatedAt' | 'deletedAt' | 'revision' | 'locations'> & {
  createdAt?: Date;
};

/** Base attributes that may be changed through `update`. */
export type ImageAttributeChanges = Partial<
  Pick<
    Image,
    | 'name'
    | 'status'
    | 'visibility'
    | 'protected'
    | 'osHidden'
    | 'checksum'
    | 'osHashAlgo'
    | 'osHashValue'
    | 'owner'
    | 'size'
    | 'virtualSize'
    | 'minRam'
    | 'minDisk'
    | 'containerFormat'
    | 'diskFormat'
  >
>;

export interface ImageChanges {
  attributes?: ImageAttributeChanges;
  /** Properties to add or overwrite. */
  setProperties?: Record<string, string>;
  removeProperties?: string[];
  /** Replaces the whole tag set. */
  tags?: string[];
  addLocations?: Array<{ storeId: string; key: string; metadata?: Record<string, unknown> }>;
  /** Removes the live locations in these stores. */
  removeLocationsInStores?: string[];
  /**
   * Replaces every live location with these, in this order (applied before `removeLocationsInStores`
   * and `addLocations`).
   */
  replaceLocations?: Array<{ storeId: string; key: string; metadata?: Record<string, unknown> }>;
  /**
   * Sets (a reserving write: its holder token and expiry) or clears (null: the write committed or
   * released) the image's write lease. See `renewWriteLease`.
   */
  writeLease?: WriteLease | null;
}

/** Who holds an image's reserved write (a token per write) and until when, unless renewed. */
export interface WriteLease {
  holder: string;
  expiresAt: Date;
}

/** What must still hold for a conditional update to apply. */
export interface UpdateCondition {
  /** The image's status must be one of these. */
  status?: ImageStatus | readonly ImageStatus[];
  /** The image's revision must equal this. */
  revision?: number;
  /** The image's write lease must be held by this token (null: no write lease held). */
  writeLeaseHolder?: string | null;
  /** A write lease must be held and have expired at this instant. */
  writeLeaseExpiredAt?: Date;
}

/** An image a write or import may have left in a transitional status (see `findStuckWrites`). */
export interface StuckWrite {
  id: string;
  status: ImageStatus;
  revision: number;
  /** saving / uploading: the expired lease's holder. */
  writeLeaseHolder: string | null;
  /** importing: the task the image is locked for (`os_glance_import_task`), if any. */
  importTask: string | null;
}

/** Image fields a list may be ordered by (the domain's names; each surface maps its own). */
export type SortKey = 'name' | 'status' | 'containerFormat' | 'diskFormat' | 'size' | 'id' | 'createdAt' | 'updatedAt';
export type SortDirection = 'asc' | 'desc';

/** Image fields a list may filter on. */
export type FilterColumn =
  | 'id'
  | 'name'
  | 'status'
  | 'visibility'
  | 'containerFormat'
  | 'diskFormat'
  | 'owner'
  | 'checksum'
  | 'osHashValue'
  | 'osHashAlgo'
  | 'size'
  | 'virtualSize'
  | 'minRam'
  | 'minDisk'
  | 'protected'
  | 'osHidden'
  | 'createdAt'
  | 'updatedAt';

export type FilterOperator = 'eq' | 'neq' | 'in' | 'gt' | 'gte' | 'lt' | 'lte';

export interface ColumnFilter {
  column: FilterColumn;
  op: FilterOperator;
  /** For `in` an array; Dates for timestamp columns, numbers for numeric, booleans for flags. */
  value: string | number | boolean | Date | null | Array<string | number>;
}

/**
 * Which rows the caller may list (Glance §7), expressed as data; the repository turns it into SQL.
 * - `everything`: every image except, unless `includeAllCommunity`, community images not owned
 *   by `projectId` (admins; the unauthenticated context has `projectId` null).
 * - `project`: public images, every image owned by `projectId`, shared images with a membership
 *   of `projectId` in `memberStatus` (any status for `all`), and every community image when
 *   `includeAllCommunity`.
 */
export type ListScope =
  | { kind: 'everything'; projectId: string | null; includeAllCommunity: boolean }
  | { kind: 'project'; projectId: string | null; memberStatus: MemberStatus | 'all'; includeAllCommunity: boolean };

export interface ImageListQuery {
  scope: ListScope;
  filters: ColumnFilter[];
  /** Custom property equality filters. */
  properties: Record<string, string>;
  /** The image must carry every one of these tags. */
  tags: string[];
  /** Ordered keys; the repository appends nothing, the service adds tie-breakers. */
  sort: Array<{ key: SortKey; dir: SortDirection }>;
  /** Start after this image (already loaded and checked visible by the service). */
  marker?: Image;
  limit: number;
}


export interface DeletedImage {
  image: Image;
  /** Every object the purged rows referenced: the image's locations, then its big data. */
  objects: StoredObject[];
}

export interface ImageRepository {
  /** Inserts an image; rejects with IMAGE_ID_IN_USE when the id exists, even as a deleted row. */
  create(image: NewImage): Promise<Image>;
  /** Returns the image unless absent or deleted (`includeDeleted` returns deleted rows too). */
  get(id: string, options?: { includeDeleted?: boolean }): Promise<Image | null>;
  list(query: ImageListQuery): Promise<Image[]>;
  /**
   * Applies `changes` atomically if `condition` holds, bumps `revision` and `updatedAt`, and returns
   * the new image; returns null when the image is absent, deleted, or the condition failed.
   */
  update(id: string, changes: ImageChanges, condition?: UpdateCondition): Promise<Image | null>;
  /**
   * Marks the image deleted (row kept so the id stays reserved) and purges everything it owned:
   * tags, properties, members, locations, names, namespaced attributes and big-data rows. Returns
   * the image as it was and every stored object those rows pointed at (locations and big data),
   * for the caller to delete. Null when already absent/deleted or the condition failed.
   */
  markDeleted(id: string, condition?: UpdateCondition): Promise<DeletedImage | null>;
  /** Σ size × live locations over `owner`'s images that are not deleted or killed. */
  storageUsage(owner: string, excludeImageId?: string): Promise<number>;
  /**
   * Moves the expiry of the write lease `holder` holds on image `id` to `expiresAt`; nothing else
   * changes (neither revision nor updatedAt). False when the lease is no longer held by `holder`
   * (the write was recovered by the reconciler, or the image was deleted).
   */
  renewWriteLease(id: string, holder: string, expiresAt: Date): Promise<boolean>;
  /**
   * Up to `limit` images in saving or uploading whose write lease expired before `now`, and images
   * in importing (whose task the caller checks). Staged images (uploading, no lease) never appear.
   */
  findStuckWrites(now: Date, limit: number): Promise<StuckWrite[]>;
  /**
   * Which of `keys` (at most a few hundred) any catalog row references in store `storeId`: image
   * locations, big data and the chunks of chunked uploads.
   */
  referencedKeys(storeId: string, keys: readonly string[]): Promise<Set<string>>;
}

export interface MemberRepository {
  list(imageId: string): Promise<ImageMember[]>;
  get(imageId: string, memberId: string): Promise<ImageMember | null>;
  /** Rejects with MEMBER_EXISTS when the member is already there. */
  add(imageId: string, memberId: string): Promise<ImageMember>;
  /** Returns null when the member is unknown. */
  setStatus(imageId: string, memberId: string, status: MemberStatus): Promise<ImageMember | null>;
  /** Returns false when the member is unknown. */
  remove(imageId: string, memberId: string): Promise<boolean>;
  count(imageId: string): Promise<number>;
}


export interface TaskListQuery {
  /** Restrict to one owner (null = ownerless tasks); omit for every owner. */
  owner?: string | null;
  type?: string;
  status?: TaskStatus;
  imageId?: string;
  sort: { key: 'created_at' | 'updated_at' | 'id' | 'type' | 'status'; dir: SortDirection };
  marker?: Task;
  limit: number;
}

export interface TaskRepository {
  create(task: NewTask): Promise<Task>;
  get(id: string): Promise<Task | null>;
  list(query: TaskListQuery): Promise<Task[]>;
  /** Conditional update; null when absent or `expectStatus` does not hold. */
  update(
    id: string,
    changes: Partial<Pick<Task, 'status' | 'result' | 'message' | 'expiresAt' | 'input'>>,
    expectStatus?: TaskStatus | readonly TaskStatus[],
  ): Promise<Task | null>;
  /**
   * Claims one task of `types` that is pending, or processing with an expired lease (its node died
   * or stalled), for `workerId` until now + `leaseMs`; marks it processing. Two claimers never get
   * the same task; oldest first. `workerId` should be unique per claim (the job runner passes
   * `<node id>/<n>`), so that a stale run of the same node cannot act on a newer claim.
   */
  claimNext(types: readonly string[], workerId: string, leaseMs: number): Promise<Task | null>;
  /** Extends the lease of a task still claimed by `workerId`; false when the claim was lost. */
  renewLease(id: string, workerId: string, leaseMs: number): Promise<boolean>;
  /**
   * Writes the final status of a task `workerId` still holds (processing, claimed by it) and ends
   * the lease; `claimedBy` stays as a record. False, and nothing written, when the claim was lost.
   */
  finish(id: string, workerId: string, completion: TaskCompletion): Promise<boolean>;
  /**
   * Hands a task `workerId` still holds back: pending again, claim and lease cleared, so any node
   * may claim it at once. False, and nothing written, when the claim was lost.
   */
  release(id: string, workerId: string): Promise<boolean>;
}
