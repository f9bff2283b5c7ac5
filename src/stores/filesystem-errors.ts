import { StoreError } from './blob-store';

export type FsOperation = 'put' | 'get' | 'stat' | 'delete' | 'list';

/** Where a filesystem call failed: for the StoreError's kind and message. */
export interface FsFailure {
  storeId: string;
  dataDir: string;
  operation: FsOperation;
  key: string;
}

/** Error codes of a filesystem (or its quota) with no room left for the bytes or inodes. */
const STORAGE_FULL_CODES = ['ENOSPC', 'EDQUOT'];

/**
 * A failed filesystem call as a StoreError (a StoreError passes through unchanged). ENOSPC and
 * EDQUOT are `storage_full` whichever call raised them (open, mkdir, write, fdatasync, fsync,
 * rename): a full disk is neither the caller's size limit (`too_large`) nor an outage.
 */
export function filesystemError(err: unknown, { storeId, dataDir, operation, key }: FsFailure): StoreError {
  if (err instanceof StoreError) return err;
  const code = errnoCode(err);
  const where = `${operation} ${JSON.stringify(key)} in ${dataDir}`;
  if (operation !== 'put' && (code === 'ENOENT' || code === 'ENOTDIR')) return notFoundError(key, storeId);
  if (operation === 'put' && (code === 'ENOTDIR' || code === 'EEXIST' || code === 'EISDIR')) {
    return new StoreError('invalid_key', `${where}: key conflicts with an existing key's path (${code})`, storeId, { cause: err });
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new StoreError(operation === 'put' || operation === 'delete' ? 'write_denied' : 'unavailable', `${where}: ${code}`, storeId, { cause: err });
  }
  if (code !== undefined && STORAGE_FULL_CODES.includes(code)) {
    return new StoreError('storage_full', `${where}: no space left on the storage (${code})`, storeId, { cause: err });
  }
  return new StoreError('unavailable', `${where}: ${code ?? String(err)}`, storeId, { cause: err });
}

export function notFoundError(key: string, storeId: string): StoreError {
  return new StoreError('not_found', `no object under ${JSON.stringify(key)}`, storeId);
}

export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

export function isErrno(err: unknown, ...codes: string[]): boolean {
  const code = errnoCode(err);
  return code !== undefined && codes.includes(code);
}
