import type { BlobStore } from '../../stores/blob-store';
import type { StoreRegistry } from '../../stores/registry';
import { fail } from '../errors';
import { DEFAULT_STORAGE_MEDIUM } from './model';

/** Extensions a file name may end with (after its last `.`, case-sensitive), as upstream. */
export const FILE_EXTENSIONS: readonly string[] = ['zip', 'qcow2', 'img', 'iso'];
/** Longest file name, in UTF-8 bytes. */
export const MAX_FILE_NAME_BYTES = 128;
/** Upstream refuses files of 500 GiB and more. */
export const MAX_FILE_BYTES = 536_870_912_000 - 1;

/** Whether `fileName` has an accepted extension and is at most 128 bytes (upload's and merge's rule). */
export function isAcceptedFileName(fileName: string): boolean {
  const dot = fileName.lastIndexOf('.');
  return dot >= 0 && FILE_EXTENSIONS.includes(fileName.slice(dot + 1)) && Buffer.byteLength(fileName, 'utf8') <= MAX_FILE_NAME_BYTES;
}

export function assertAcceptedFileName(fileName: string): void {
  if (!isAcceptedFileName(fileName)) fail('FILE_NAME_INVALID', "File shouldn't contains any extension or filename is larger than max size");
}

export function isZipName(fileName: string): boolean {
  return fileName.endsWith('.zip');
}

/** Priorities upstream meant for cloud media it never supported: refused unless configured. */
const UNSUPPORTED_PRIORITIES = new Set(['A', 'B']);

/** Where a priority's files go, and the storageMedium the records report for them. */
export interface PriorityTarget {
  store: BlobStore;
  storageMedium: string;
}

/**
 * `priority` → store by `[edgegallery] priority_stores`. Unmapped priorities (0, empty, anything
 * else) go to the default store, reported as upstream's local medium; unmapped A and B are refused
 * (FILE_PRIORITY_REFUSED). A mapped store other than the default is reported by its id.
 */
export function priorityTarget(priority: string, mapping: Readonly<Record<string, string>>, stores: StoreRegistry): PriorityTarget {
  const storeId = Object.hasOwn(mapping, priority) ? mapping[priority] : undefined;
  if (storeId === undefined && UNSUPPORTED_PRIORITIES.has(priority)) fail('FILE_PRIORITY_REFUSED', 'fail to upload package');
  const store = storeId === undefined ? stores.default : stores.get(storeId);
  if (!store) fail('FILE_PRIORITY_REFUSED', 'fail to upload package');
  return { store, storageMedium: store === stores.default ? DEFAULT_STORAGE_MEDIUM : store.id };
}

/** Upstream's on-disk name of an image: `<imageId><fileName>`, the name imageops knows it by. */
export function saveName(imageId: string, fileName: string): string {
  return `${imageId}${fileName}`;
}

/** The name of a slim's output: `compressed<imageId><fileName>`. */
export function compressedName(imageId: string, fileName: string): string {
  return `compressed${saveName(imageId, fileName)}`;
}
