import type { StoredObject } from '../stored-object';
import type { BigDataEntry, ContainerImageChanges, ContainerImageRecord, NewContainerImage } from './model';

/** Outcome of recording a big-data object (see ContainerImageRepository.commitBigData). */
export type BigDataCommit =
  /** The image no longer exists: nothing was recorded. */
  | { status: 'gone' }
  /** The key already held the same size and digest: nothing changed, the new object is unused. */
  | { status: 'unchanged' }
  /** Recorded; `replaced` is the object the key pointed at before, now unreferenced. */
  | { status: 'written'; replaced: StoredObject | null };

/**
 * Container images in the catalog (rows of `images` of their own kind, with names, attributes and
 * big data in the child tables). Every method that changes anything is one transaction; two
 * processes on the same database see one store. Methods taking an id act on that exact id (the
 * service resolves references first) and report a missing image as `false` / null.
 */
export interface ContainerImageRepository {
  /**
   * Inserts the record and its names. Rejects with IMAGE_ID_IN_USE when the id exists (as any kind
   * of image) and CONTAINER_IMAGE_NAME_IN_USE when another image owns one of the names; then
   * nothing is written.
   */
  create(image: NewContainerImage): Promise<void>;
  get(id: string): Promise<ContainerImageRecord | null>;
  /** Every container image, oldest `loaded` first (then by id). */
  list(): Promise<ContainerImageRecord[]>;
  exists(id: string): Promise<boolean>;
  /** Up to `limit` ids starting with `prefix`, in id order. */
  idsWithPrefix(prefix: string, limit: number): Promise<string[]>;
  /** The image owning `name`, or null. */
  ownerOf(name: string): Promise<string | null>;
  /**
   * Images indexed under `digest`: those whose record digest is it, and those whose `manifest`
   * big data has it as its digest; each once, oldest `loaded` first (then by id).
   */
  idsByDigest(digest: string): Promise<string[]>;
  /** Gives `name` to the image, taking it from any other owner in the same transaction. */
  addName(id: string, name: string): Promise<boolean>;
  /** Replaces the image's names with `names`, taking each from any other owner. */
  setNames(id: string, names: readonly string[]): Promise<boolean>;
  update(id: string, changes: ContainerImageChanges): Promise<boolean>;
  /**
   * Points `entry.key` of the image at `entry`'s object: a new key goes after the existing ones,
   * an existing key keeps its place. Conditional on the image still existing.
   */
  commitBigData(id: string, entry: BigDataEntry): Promise<BigDataCommit>;
  /**
   * Removes the image row and everything it owned (names, attributes, big-data rows) and returns
   * the big-data objects for the caller to delete; null when there was no such image. The id is
   * free again afterwards (image ids are content addresses: a removed image may be pulled again).
   */
  delete(id: string): Promise<StoredObject[] | null>;
}
