import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertValidKey, type BlobStore } from '../../stores/blob-store';
import type { StoreRegistry } from '../../stores/registry';
import type { StoredObject } from '../stored-object';

/**
 * Which configured store a location URL names, and the object's key there: the inverse of
 * `StoreRegistry.locationUrl` (Glance's `_get_store_id_from_uri`, which matches a URL against each
 * store's URL prefix).
 *
 * - `file:///<path>`: a path inside a filesystem store's data directory. Glance refuses `file://`
 *   locations outright (they could name any file on the host); glint accepts only paths inside a
 *   configured store, so a location can never reach outside the stores.
 * - `s3://<host>/<bucket>/<key>` (`s3+http://`, `s3+https://`): an S3 store with that endpoint
 *   host and bucket. Credentials in the URL (Glance's legacy `s3://key:secret@host/...`) are
 *   ignored: the store's own are used.
 *
 * Returns null for anything else: another scheme, no matching store, a key the stores refuse
 * (`..` segments, characters outside `[A-Za-z0-9._/-]`), or staged data.
 */
export function resolveLocationUrl(url: string, stores: StoreRegistry): StoredObject | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  for (const store of stores.all()) {
    const key = keyInStore(parsed, store);
    if (key !== null && isValidKey(key, store.id)) return { storeId: store.id, key };
  }
  return null;
}

function keyInStore(url: URL, store: BlobStore): string | null {
  const details = store.details();
  if (details.type === 'file') {
    if (url.protocol !== 'file:' || (url.host !== '' && url.host !== 'localhost')) return null;
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch {
      return null;
    }
    const root = details.dataDir.endsWith(sep) ? details.dataDir : details.dataDir + sep;
    return path.startsWith(root) ? path.slice(root.length) : null;
  }
  if (!['s3:', 's3+http:', 's3+https:'].includes(url.protocol) || url.search || url.hash) return null;
  let endpoint: URL;
  try {
    endpoint = new URL(details.endpoint);
  } catch {
    return null;
  }
  if (url.host !== endpoint.host) return null;
  const prefix = `/${details.bucket}/`;
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return null;
  }
  return path.startsWith(prefix) ? path.slice(prefix.length) : null;
}

/** Staged data (`staging/<image id>`) is glint's own until its import runs: never a location. */
function isValidKey(key: string, storeId: string): boolean {
  if (key.startsWith('staging/')) return false;
  try {
    assertValidKey(key, storeId);
    return true;
  } catch {
    return false;
  }
}
