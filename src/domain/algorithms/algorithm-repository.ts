import type { AlgorithmChanges, AlgorithmImage, DependencyRef, NewAlgorithmImage } from './algorithm';

/**
 * Where algorithm records live (the catalog implements it on SQLite and MySQL). Records are
 * soft-deleted: a deleted record is never returned and frees its name+tag and event type, but
 * keeps its row. Every write is one transaction, safe to run from many nodes at once: uniqueness
 * is decided by the database's constraints, never by a read before the write.
 */
export interface AlgorithmRepository {
  /** The live record with this id, or null. */
  get(id: string): Promise<AlgorithmImage | null>;
  /** The live record named `name`:`tag`, or null. */
  findByNameTag(name: string, tag: string): Promise<AlgorithmImage | null>;
  /**
   * Live records whose name starts with `namePrefix` and contains `nameContains` (each optional;
   * literal, case-sensitive), ordered by name then tag.
   */
  search(query: { namePrefix: string | null; nameContains: string | null }): Promise<AlgorithmImage[]>;
  /** `name`:`tag` of the live records holding each of these event types (absent ones are left out). */
  namesByEventType(eventTypes: readonly number[]): Promise<Map<number, DependencyRef[]>>;
  /** Whether some live record other than `excludeId` depends on `eventType`. */
  hasLiveDependents(eventType: number, excludeId?: string): Promise<boolean>;
  /**
   * Inserts a live record in one transaction: resolves `dependencies` to the event types of the
   * live records they name (those rows stay locked until the commit, so they cannot be deleted in
   * between), takes `record.eventType` or, when null, the next number after every one ever used,
   * and writes the record and its dependencies. Rejects with ALGORITHM_DEPENDENCY_NOT_FOUND when a
   * dependency names no live record, ALGORITHM_EXISTS when a live record has the same name and tag,
   * ALGORITHM_EVENT_TYPE_IN_USE when a supplied event type belongs to a live record. Other
   * failures (the database) are passed on as they are.
   */
  create(record: NewAlgorithmImage, dependencies: readonly DependencyRef[] | null): Promise<AlgorithmImage>;
  /**
   * Writes `changes` to the live record `id` in one transaction and, when `dependencies` is not
   * null, replaces its dependencies with the resolved ones (locked as in `create`). Returns the
   * new record, or null when `id` is not live. Rejects with ALGORITHM_DEPENDENCY_NOT_FOUND.
   */
  update(id: string, changes: AlgorithmChanges, dependencies: readonly DependencyRef[] | null): Promise<AlgorithmImage | null>;
  /**
   * Soft-deletes the live record `id` in one transaction, unless another live record depends on
   * its event type (checked under a lock, so a dependent cannot be registered in between).
   */
  markDeleted(id: string): Promise<'deleted' | 'not_found' | 'depended_on'>;
}
