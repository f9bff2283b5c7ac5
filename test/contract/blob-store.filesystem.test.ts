import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FilesystemStoreConfig } from '../../src/config/types';
import { isStoreError } from '../../src/stores/blob-store';
import { FilesystemStore } from '../../src/stores/filesystem';
import { blobStoreContract, type StoreUnderTest } from './blob-store.suite';

function configFor(dataDir: string, overrides: Partial<FilesystemStoreConfig> = {}): FilesystemStoreConfig {
  return { id: 'file', type: 'file', description: null, dataDir, chunkSize: 64 * 1024, ...overrides };
}

async function tempFiles(dataDir: string): Promise<string[]> {
  const names = await readdir(join(dataDir, '.tmp')).catch(() => []);
  return names.map((name) => `temp file .tmp/${name}`);
}

async function filesystemFixture(): Promise<StoreUnderTest & { dataDir: string; store: FilesystemStore }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'glint-fs-store-'));
  return {
    dataDir,
    store: new FilesystemStore(configFor(dataDir)),
    leftovers: () => tempFiles(dataDir),
    cleanup: () => rm(dataDir, { recursive: true, force: true }),
  };
}

describe('FilesystemStore', function () {
  blobStoreContract(filesystemFixture);

  describe('filesystem specifics', function () {
    let fixture: Awaited<ReturnType<typeof filesystemFixture>>;

    beforeEach(async function () {
      fixture = await filesystemFixture();
    });

    afterEach(async function () {
      await fixture.cleanup();
    });

    it("keeps objects at <dataDir>/<key>, Glance's own layout", async function () {
      const { store, dataDir } = fixture;
      await store.put('5f2e8a36-1c5b-4d2e-9b1a-0d4f7a1e2c3b', Readable.from([Buffer.from('image bytes')]));
      assert.equal(await readFile(join(dataDir, '5f2e8a36-1c5b-4d2e-9b1a-0d4f7a1e2c3b'), 'utf8'), 'image bytes');

      await writeFile(join(dataDir, 'written-by-glance'), 'legacy');
      assert.deepEqual(await store.stat('written-by-glance'), { size: 6 });
      assert.deepEqual((await readdir(dataDir)).sort(), ['.tmp', '5f2e8a36-1c5b-4d2e-9b1a-0d4f7a1e2c3b', 'written-by-glance']);
    });

    it('creates the data directory on the first put and lists nothing before', async function () {
      const dataDir = join(fixture.dataDir, 'not', 'yet');
      const store = new FilesystemStore(configFor(dataDir));
      for await (const key of store.list()) assert.fail(`unexpected ${key}`);
      await store.put('first', Readable.from([Buffer.from('x')]));
      assert.equal(await readFile(join(dataDir, 'first'), 'utf8'), 'x');
    });

    it('reads in chunks of the configured chunk size', async function () {
      const store = new FilesystemStore(configFor(fixture.dataDir, { chunkSize: 4096 }));
      await store.put('chunked', Readable.from([Buffer.alloc(20_000, 1)]));
      const sizes: number[] = [];
      for await (const chunk of (await store.get('chunked')).body) sizes.push((chunk as Buffer).length);
      assert.deepEqual(sizes, [4096, 4096, 4096, 4096, 3616]);
    });

    it('reserves the temp folder: .tmp keys are invalid', async function () {
      const { store } = fixture;
      for (const key of ['.tmp', '.tmp/x']) {
        await assert.rejects(store.put(key, Readable.from([Buffer.from('x')])), (err) => isStoreError(err, 'invalid_key'));
        await assert.rejects(store.get(key), (err) => isStoreError(err, 'invalid_key'));
      }
    });

    it('reports a key that collides with another key path as invalid_key and leaves nothing', async function () {
      const { store } = fixture;
      await store.put('a', Readable.from([Buffer.from('x')]));
      await assert.rejects(store.put('a/b', Readable.from([Buffer.from('y')])), (err) => isStoreError(err, 'invalid_key'));
      await store.put('c/d', Readable.from([Buffer.from('z')]));
      await assert.rejects(store.put('c', Readable.from([Buffer.from('w')])), (err) => isStoreError(err, 'invalid_key'));
      assert.deepEqual(await tempFiles(fixture.dataDir), []);
    });

    it('prunes directories that a delete leaves empty', async function () {
      const { store, dataDir } = fixture;
      await store.put('x/y/z', Readable.from([Buffer.from('1')]));
      await store.put('x/w', Readable.from([Buffer.from('2')]));
      await store.delete('x/y/z');
      assert.deepEqual((await readdir(join(dataDir, 'x'))).sort(), ['w']);
      await store.delete('x/w');
      assert.deepEqual(await readdir(dataDir), ['.tmp']);
    });

    it('ignores files in the temp folder when listing, and the leftover check sees them', async function () {
      const { store, dataDir } = fixture;
      await mkdir(join(dataDir, '.tmp'), { recursive: true });
      await writeFile(join(dataDir, '.tmp', 'stray'), 'partial');
      for await (const key of store.list()) assert.fail(`unexpected ${key}`);
      assert.deepEqual(await fixture.leftovers(), ['temp file .tmp/stray']);
    });

    it('describes itself for /v2/info/stores/detail', function () {
      assert.deepEqual(fixture.store.detailProperties(), { data_dir: fixture.dataDir, chunk_size: 64 * 1024, thin_provisioning: false });
      assert.equal(fixture.store.type, 'file');
      assert.equal(fixture.store.id, 'file');
    });
  });
});
