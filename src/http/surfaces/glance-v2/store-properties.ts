import type { ImageDataService } from '../../../domain/image-data';

type StoreDetails = ReturnType<ImageDataService['storesInfo']>[number]['details'];

const MiB = 1024 * 1024;

/**
 * A store's `properties` in `GET /v2/info/stores/detail`, with Glance's names and units: the
 * filesystem store's data_dir, chunk_size and thin_provisioning; the S3 store's object and part
 * sizes in MiB (the unit of glance-api.conf) and its thread pools.
 */
export function glanceStoreProperties(details: StoreDetails): Record<string, unknown> {
  switch (details.type) {
    case 'file':
      return { data_dir: details.dataDir, chunk_size: details.chunkSize, thin_provisioning: details.sparseFiles };
    case 's3':
      return {
        s3_store_large_object_size: details.largeObjectSize / MiB,
        s3_store_large_object_chunk_size: details.partSize / MiB,
        s3_store_thread_pools: details.concurrency,
      };
  }
}
