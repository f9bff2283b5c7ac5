import assert from 'node:assert/strict';
import type { FilesystemStoreConfig, S3StoreConfig, StoreConfig, StoresConfig } from '../../../src/config/types';
import { isStoreError, type BlobStore } from '../../../src/stores/blob-store';
import { FilesystemStore } from '../../../src/stores/filesystem';
import { createStore, locationUrl, StoreRegistry } from '../../../src/stores/registry';
import { S3Store } from '../../../src/stores/s3';

const fast: FilesystemStoreConfig = { id: 'fast', type: 'file', description: 'local disk', dataDir: '/var/lib/glint/images', chunkSize: 65536 };
const cold: S3StoreConfig = {
  id: 'cold',
  type: 's3',
  description: null,
  endpoint: 'http://127.0.0.1:9000',
  region: 'us-east-1',
  accessKey: 'access',
  secretKey: 'secret',
  bucket: 'images',
  createBucketOnPut: false,
  forcePathStyle: true,
  largeObjectSize: 100 * 1024 * 1024,
  partSize: 10 * 1024 * 1024,
  concurrency: 10,
  checksumMode: 'when_required',
};

function storesConfig(stores: StoreConfig[], defaultStoreId: string, multiStore = true): StoresConfig {
  return { multiStore, defaultStoreId, stores };
}

describe('StoreRegistry', function () {
  it('builds each store with the driver of its type', async function () {
    const registry = new StoreRegistry(storesConfig([fast, cold], 'cold'));
    assert.ok(registry.get('fast') instanceof FilesystemStore);
    assert.ok(registry.get('cold') instanceof S3Store);
    assert.equal(registry.default, registry.get('cold'));
    assert.deepEqual(
      registry.all().map((store) => [store.id, store.type, store.description]),
      [
        ['fast', 'file', 'local disk'],
        ['cold', 's3', undefined],
      ],
    );
    assert.equal(registry.multiStore, true);
    assert.equal(registry.get('unknown'), undefined);
    await registry.close();
  });

  it('reports single-store mode', async function () {
    const registry = new StoreRegistry(storesConfig([fast], 'fast', false));
    assert.equal(registry.multiStore, false);
    assert.equal(registry.default.id, 'fast');
    await registry.close();
  });

  it('uses the given factory', function () {
    const built: string[] = [];
    const registry = new StoreRegistry(storesConfig([fast, cold], 'fast'), (config) => {
      built.push(config.id);
      return createStore(config);
    });
    assert.deepEqual(built, ['fast', 'cold']);
    assert.equal(registry.all().length, 2);
  });

  it('rejects a missing default and duplicate ids', function () {
    assert.throws(() => new StoreRegistry(storesConfig([fast], 'cold')), (err) => isStoreError(err));
    assert.throws(() => new StoreRegistry(storesConfig([fast, { ...fast }], 'fast')), (err) => isStoreError(err));
  });

  it('closes every store even when one fails, then reports the failure', async function () {
    const closed: string[] = [];
    const failure = new Error('close failed');
    const fake = (id: string, fail: boolean): BlobStore =>
      Object.assign(Object.create(null) as BlobStore, {
        id,
        async close() {
          closed.push(id);
          if (fail) throw failure;
        },
      });
    const registry = new StoreRegistry(storesConfig([fast, cold], 'fast'), (config) => fake(config.id, config.id === 'fast'));
    await assert.rejects(registry.close(), (err) => err === failure);
    assert.deepEqual(closed.sort(), ['cold', 'fast']);
  });

  it('describes locations as Glance direct_url values', function () {
    assert.equal(locationUrl(fast, '5f2e8a36-1c5b-4d2e-9b1a-0d4f7a1e2c3b'), 'file:///var/lib/glint/images/5f2e8a36-1c5b-4d2e-9b1a-0d4f7a1e2c3b');
    assert.equal(locationUrl(fast, 'staging/a/1'), 'file:///var/lib/glint/images/staging/a/1');
    assert.equal(locationUrl(cold, 'abc'), 's3://127.0.0.1:9000/images/abc');
    assert.equal(locationUrl({ ...cold, endpoint: 'https://s3.example.org' }, 'abc'), 's3+https://s3.example.org/images/abc');
    assert.throws(() => locationUrl(fast, '../etc/passwd'), (err) => isStoreError(err, 'invalid_key'));

    const registry = new StoreRegistry(storesConfig([fast, cold], 'fast'));
    assert.equal(registry.locationUrl('cold', 'abc'), 's3://127.0.0.1:9000/images/abc');
    assert.equal(registry.locationUrl('nope', 'abc'), undefined);
  });
});
