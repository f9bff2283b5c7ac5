import type { FileAttributes, FileRecord } from './model';

/** The attribute names the surface keeps per image, as stored (namespace `edgegallery`). */
export type FileAttributeName = 'fileName' | 'userId' | 'storageMedium' | 'priority' | 'requestIdCheck' | 'requestIdCompress' | 'slimRefused';

/**
 * The surface's attributes of Glance images, kept in the catalog beside the image (namespaced
 * attributes, purged with the image by `ImageRepository.markDeleted`). A record exists for an image
 * that is live (not deleted), active and carries a `fileName`.
 */
export interface FileRecordRepository {
  /**
   * Sets the given attributes of image `imageId` (a null value removes one), in one transaction.
   * False, and nothing written, when the image is absent or deleted.
   */
  setAttributes(imageId: string, values: Partial<Record<FileAttributeName, string | null>>): Promise<boolean>;
  /**
   * `setAttributes` only if attribute `name` still has the value `expected` (null: absent), checked
   * and written in one transaction that holds the image row: of two concurrent swaps from the same
   * value, one wins. False when it did not hold (or the image is gone).
   */
  swapAttributes(imageId: string, name: FileAttributeName, expected: string | null, values: Partial<Record<FileAttributeName, string | null>>): Promise<boolean>;
  /** The record of a live, active image; null otherwise (also for images that are no record). */
  get(imageId: string): Promise<FileRecord | null>;
  /** Every record, oldest upload first. */
  list(): Promise<FileRecord[]>;
}

/** Attributes as stored (text) → the record's typed fields. */
export function attributesFromRows(values: ReadonlyMap<string, string>): FileAttributes | null {
  const fileName = values.get('fileName');
  if (fileName === undefined) return null;
  return {
    fileName,
    userId: values.get('userId') ?? '',
    storageMedium: values.get('storageMedium') ?? '',
    priority: values.get('priority') ?? '',
    requestIdCheck: values.get('requestIdCheck') ?? null,
    requestIdCompress: values.get('requestIdCompress') ?? null,
    slimRefused: values.get('slimRefused') === 'true',
  };
}
