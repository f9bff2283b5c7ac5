import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { FilesystemStoreConfig } from '../../src/config/types';
import { isStoreError } from '../../src/stores/blob-store';
import { DEFAULT_FILE_SINK_LIMITS } from '../../src/stores/file-sink';
import { FilesystemStore, MIN_STREAM_CHUNK_BYTES, SMALL_READ_BYTES } from '../../src/stores/filesystem';
import { blobStoreContract, type StoreUnderTest } from './blob-store.suite';

const KiB = 1024;
const MiB = 1024 * KiB;

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

async function collect(body: Readable): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return chunks;
}

async function chunkSizes(body: Readable): Promise<number[]> {
  return (await collect(body)).map((chunk) => chunk.length);
}

const run = promisify(execFile);

async function hasPrlimit(): Promise<boolean> {
  return run('prlimit', ['--version']).then(
    () => true,
    () => false,
  );
}

/**
 * Runs a put of `size` bytes in a child process whose files may not grow past `limit` bytes
 * (RLIMIT_FSIZE; SIGXFSZ ignored), so a write fails with EFBIG halfway: a real disk failure in
 * the middle of the upload. Resolves with the StoreError's kind and message.
 */
async function putUnderFileSizeLimit(dataDir: string, limit: number, size: number): Promise<{ kind: string; message: string }> {
  const child = `
    process.on('SIGXFSZ', () => {});
    const { Readable } = require('node:stream');
    const { FilesystemStore } = require(${JSON.stringify(join(__dirname, '../../src/stores/filesystem.ts'))});
    const store = new FilesystemStore({ id: 'file', type: 'file', description: null, dataDir: process.argv[1], chunkSize: 65536 });
    let left = Number(process.argv[2]);
    const source = new Readable({ read() { const n = Math.min(65536, left); left -= n; this.push(n > 0 ? Buffer.alloc(n, 1) : null); } });
    store.put('limited', source).then(
      () => { console.log(JSON.stringify({ kind: 'none', message: 'put succeeded' })); process.exit(0); },
      (err) => { console.log(JSON.stringify({ kind: err.kind ?? err.name, message: err.message })); process.exit(0); },
    );`;
  const { stdout } = await run('prlimit', [`--fsize=${limit}`, process.execPath, '--require', require.resolve('tsx/cjs'), '-e', child, dataDir, String(size)]);
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as { kind: string; message: string };
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

    it('streams reads above the small-read limit in chunks of at least 1 MiB, or the configured size when larger', async function () {
      const data = randomBytes(3 * MiB + 5);
      await fixture.store.put('chunked', Readable.from([data]));
      const read = await fixture.store.get('chunked');
      assert.deepEqual(await chunkSizes(read.body), [MiB, MiB, MiB, 5]);
      const larger = new FilesystemStore(configFor(fixture.dataDir, { chunkSize: 2 * MiB }));
      assert.deepEqual(await chunkSizes((await larger.get('chunked')).body), [2 * MiB, MiB + 5]);
      const ranged = await larger.get('chunked', { start: 10, end: SMALL_READ_BYTES + 10 });
      assert.deepEqual(await chunkSizes(ranged.body), [SMALL_READ_BYTES + 1]);
      assert.equal(MIN_STREAM_CHUNK_BYTES, MiB);
    });

    it('serves reads up to the small-read limit as one chunk, exact at the first and last byte', async function () {
      const { store } = fixture;
      const data = randomBytes(2 * SMALL_READ_BYTES + 3);
      const last = data.length - 1;
      await store.put('small-reads', Readable.from([data]));
      const cases: [number, number][] = [
        [0, 0],
        [last, last],
        [0, 4095],
        [last - 4095, last],
        [0, SMALL_READ_BYTES - 1],
        [last - SMALL_READ_BYTES + 1, last],
        [SMALL_READ_BYTES, SMALL_READ_BYTES],
      ];
      for (const [start, end] of cases) {
        const read = await store.get('small-reads', { start, end });
        assert.equal(read.length, end - start + 1);
        assert.equal(read.totalSize, data.length);
        const received = await collect(read.body);
        assert.equal(received.length, 1, `chunks of ${start}-${end}`);
        assert.ok(received[0].equals(data.subarray(start, end + 1)), `bytes ${start}-${end} differ`);
      }
      await assert.rejects(store.get('small-reads', { start: last, end: last + 1 }), RangeError);

      const exact = data.subarray(0, SMALL_READ_BYTES);
      await store.put('exactly-small', Readable.from([exact]));
      const whole = await store.get('exactly-small');
      assert.deepEqual([whole.length, whole.totalSize], [SMALL_READ_BYTES, SMALL_READ_BYTES]);
      const chunks = await collect(whole.body);
      assert.equal(chunks.length, 1);
      assert.ok(chunks[0].equals(exact));

      await store.put('empty', Readable.from([]));
      const empty = await store.get('empty');
      assert.deepEqual([empty.length, empty.totalSize, (await collect(empty.body)).length], [0, 0, 0]);
      for (const key of ['small-reads', 'exactly-small', 'empty']) await store.delete(key);
    });

    it('closes the descriptor of a streamed read that its reader dropped unread', async function () {
      const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
      if (!(await fds().catch(() => 0))) this.skip();
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const { store } = fixture;
      await store.put('dropped', Readable.from([Buffer.alloc(SMALL_READ_BYTES + 1)]));
      const before = await fds();
      await (async () => {
        const read = await store.get('dropped');
        assert.equal(read.length, SMALL_READ_BYTES + 1);
      })();
      assert.equal(await fds(), before + 1);
      for (let i = 0; i < 20 && (await fds()) > before; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(await fds(), before);
      await store.delete('dropped');
    });

    it('stores a source of many small chunks (batches of more buffers than one writev takes)', async function () {
      const { store } = fixture;
      const data = randomBytes(5 * MiB + 77);
      const chunks: Buffer[] = [];
      for (let offset = 0; offset < data.length; offset += 512) chunks.push(data.subarray(offset, offset + 512));
      const result = await store.put('many-chunks', Readable.from(chunks));
      assert.equal(result.size, data.length);
      assert.ok((await readFile(join(fixture.dataDir, 'many-chunks'))).equals(data));
      await store.delete('many-chunks');
    });

    it('leaves nothing when the source fails in the middle of a write batch', async function () {
      const { store, dataDir } = fixture;
      const original = randomBytes(100 * KiB);
      await store.put('batched', Readable.from([original]));
      const batch = DEFAULT_FILE_SINK_LIMITS.batchBytes;
      const failure = new Error('source broke');
      const source = Readable.from(
        (async function* () {
          for (let sent = 0; sent < 2 * batch + batch / 2; sent += 64 * KiB) yield randomBytes(64 * KiB);
          throw failure;
        })(),
      );
      await assert.rejects(store.put('batched', source), (err) => err === failure);
      assert.deepEqual(await tempFiles(dataDir), []);
      assert.ok((await readFile(join(dataDir, 'batched'))).equals(original), 'the previous object changed');
    });

    it('leaves nothing when a disk write fails in the middle of the upload (file size limit)', async function () {
      if (!(await hasPrlimit())) this.skip();
      this.timeout(60_000);
      const { dataDir } = fixture;
      const outcome = await putUnderFileSizeLimit(dataDir, 3 * MiB + 512 * KiB, 12 * MiB);
      assert.equal(outcome.kind, 'unavailable', JSON.stringify(outcome));
      assert.match(outcome.message, /EFBIG/);
      assert.deepEqual(await tempFiles(dataDir), []);
      assert.deepEqual((await readdir(dataDir)).filter((name) => name !== '.tmp'), []);
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

    it('describes itself: its data directory, chunk size and no sparse files (Glance shows them in /v2/info/stores/detail)', function () {
      assert.deepEqual(fixture.store.details(), { type: 'file', dataDir: fixture.dataDir, chunkSize: 64 * 1024, sparseFiles: false });
      assert.equal(fixture.store.type, 'file');
      assert.equal(fixture.store.id, 'file');
    });
  });

  describe('on a full disk (a small tmpfs)', function () {
    let mountPoint: string;
    let mounted = false;

    /** Mounts a fresh tmpfs with `options` at mountPoint; skips the test where mounting is not permitted. */
    async function mountTmpfs(context: Mocha.Context, options: string): Promise<FilesystemStore> {
      try {
        await run('mount', ['-t', 'tmpfs', '-o', options, 'glint-full-disk', mountPoint]);
      } catch {
        context.skip();
      }
      mounted = true;
      return new FilesystemStore(configFor(join(mountPoint, 'images')));
    }

    /** Every file and directory under the mount, and the blocks in use. */
    async function contents(): Promise<{ files: string[]; blocksUsed: number }> {
      const files = (await readdir(mountPoint, { recursive: true })).sort();
      const fs = await statfs(mountPoint);
      return { files, blocksUsed: fs.blocks - fs.bfree };
    }

    beforeEach(async function () {
      mountPoint = await mkdtemp(join(tmpdir(), 'glint-full-disk-'));
    });

    afterEach(async function () {
      if (mounted) await run('umount', [mountPoint]);
      mounted = false;
      await rm(mountPoint, { recursive: true, force: true });
    });

    it('fails a put of 2 MiB into 1 MiB with storage_full, removes the partial file and keeps the previous object', async function () {
      const store = await mountTmpfs(this, 'size=1m');
      const previous = randomBytes(100 * KiB);
      await store.put('image', Readable.from([previous]));
      const before = await contents();

      await assert.rejects(store.put('image', Readable.from([randomBytes(2 * MiB)])), (err) => {
        assert.ok(isStoreError(err, 'storage_full'), String(err));
        assert.match(err.message, /ENOSPC/);
        return true;
      });
      assert.deepEqual(await contents(), before, 'the partial upload left data behind');
      assert.deepEqual(before.files, ['images', 'images/.tmp', 'images/image']);
      assert.ok((await readFile(join(mountPoint, 'images', 'image'))).equals(previous), 'the previous object changed');

      // the space is free again: what fits is stored
      await store.put('fits', Readable.from([randomBytes(512 * KiB)]));
      assert.equal((await store.stat('fits')).size, 512 * KiB);
      await store.close();
    });

    it('fails with storage_full when no inode is left for the temporary file or for its folder', async function () {
      // the mount's root and images/ take two inodes: the temporary file finds none, then .tmp finds none
      for (const [inodes, files] of [
        [3, ['images', 'images/.tmp']],
        [2, ['images']],
      ] as const) {
        const store = await mountTmpfs(this, `size=1m,nr_inodes=${inodes}`);
        await assert.rejects(store.put('image', Readable.from([Buffer.from('x')])), (err) => isStoreError(err, 'storage_full') && /ENOSPC/.test(err.message));
        assert.deepEqual((await contents()).files, files);
        await run('umount', [mountPoint]);
        mounted = false;
      }
    });
  });
});
