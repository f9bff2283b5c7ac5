import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StoreConfig, StoresConfig } from '../config/types';
import { assertValidKey, StoreError, type BlobStore } from './blob-store';
import { FilesystemStore } from './filesystem';
import type * as S3Driver from './s3';

export type StoreFactory = (config: StoreConfig) => BlobStore;

/**
 * Builds the driver for a store's type. The S3 driver is loaded on first use: the AWS SDK adds
 * about 10 MB to the resident size of a process that only has filesystem stores.
 */
export function createStore(config: StoreConfig): BlobStore {
  switch (config.type) {
    case 'file':
      return new FilesystemStore(config);
    case 's3': {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- synchronous lazy load, see above
      const { S3Store } = require('./s3') as typeof S3Driver;
      return new S3Store(config);
    }
  }
}

/**
 * The configured stores, built once at start-up. Locations record the id of the store that wrote
 * them, so reads and deletes go back to `get(id)`; new data goes to `default` unless the request
 * names another store (Glance multi-store).
 */
export class StoreRegistry {
  /** True when `enabled_backends` is set (Glance multi-store mode). */
  readonly multiStore: boolean;
  readonly default: BlobStore;
  private readonly entries = new Map<string, { store: BlobStore; config: StoreConfig }>();

  constructor(config: StoresConfig, factory: StoreFactory = createStore) {
    this.multiStore = config.multiStore;
    for (const storeConfig of config.stores) {
      if (this.entries.has(storeConfig.id)) {
        throw new StoreError('unavailable', `store ${JSON.stringify(storeConfig.id)} is configured twice`, storeConfig.id);
      }
      this.entries.set(storeConfig.id, { store: factory(storeConfig), config: storeConfig });
    }
    const fallback = this.entries.get(config.defaultStoreId);
    if (fallback === undefined) {
      throw new StoreError('unavailable', `default store ${JSON.stringify(config.defaultStoreId)} is not configured`, config.defaultStoreId);
    }
    this.default = fallback.store;
  }

  /** The store with this id; undefined for an unknown id (callers answer 400). */
  get(id: string): BlobStore | undefined {
    return this.entries.get(id)?.store;
  }

  /** Every store in configuration order. */
  all(): BlobStore[] {
    return [...this.entries.values()].map((entry) => entry.store);
  }

  /** Glance `direct_url` for `key` in store `storeId`; undefined for an unknown id. */
  locationUrl(storeId: string, key: string): string | undefined {
    const entry = this.entries.get(storeId);
    return entry && locationUrl(entry.config, key);
  }

  /** Closes every store, even when one fails; rejects with the first failure. */
  async close(): Promise<void> {
    const results = await Promise.allSettled(this.all().map((store) => store.close()));
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure) throw failure.reason;
  }
}

/**
 * A location as Glance writes it into `direct_url`: `file:///<data dir>/<key>`, or
 * `s3://<host>/<bucket>/<key>` (`s3+https://` for an https endpoint). Unlike Glance, the S3 form
 * carries no credentials.
 */
export function locationUrl(config: StoreConfig, key: string): string {
  assertValidKey(key, config.id);
  switch (config.type) {
    case 'file':
      return pathToFileURL(resolve(config.dataDir, key)).href;
    case 's3': {
      const endpoint = new URL(config.endpoint);
      const scheme = endpoint.protocol === 'https:' ? 's3+https' : 's3';
      return `${scheme}://${endpoint.host}/${config.bucket}/${key}`;
    }
  }
}
