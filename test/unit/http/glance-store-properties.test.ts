import assert from 'node:assert/strict';
import { glanceStoreProperties } from '../../../src/http/surfaces/glance-v2/store-properties';

const MiB = 1024 * 1024;

describe('Glance v2 store properties (/v2/info/stores/detail)', function () {
  it("shows a filesystem store's data_dir, chunk_size and thin_provisioning", function () {
    assert.deepEqual(glanceStoreProperties({ type: 'file', dataDir: '/var/lib/glint/images', chunkSize: 64 * 1024, sparseFiles: false }), {
      data_dir: '/var/lib/glint/images',
      chunk_size: 64 * 1024,
      thin_provisioning: false,
    });
  });

  it("shows an S3 store's sizes in MiB, as glance-api.conf sets them, and its thread pools", function () {
    const details = { type: 's3', endpoint: 'http://127.0.0.1:9000', bucket: 'images', largeObjectSize: 100 * MiB, partSize: 10 * MiB, concurrency: 10 } as const;
    assert.deepEqual(glanceStoreProperties(details), {
      s3_store_large_object_size: 100,
      s3_store_large_object_chunk_size: 10,
      s3_store_thread_pools: 10,
    });
  });
});
