import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { isStoreError, type BlobStore, type PutResult, type StoreErrorKind } from '../../src/stores/blob-store';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Every store under test is configured with this S3 part size (the S3 minimum). */
export const CONTRACT_PART_SIZE = 5 * MiB;

export interface StoreUnderTest {
  store: BlobStore;
  /** Driver state that must not outlive a put, finished or failed: temp files, in-progress uploads. */
  leftovers(): Promise<string[]>;
  /** Removes whatever the fixture created; runs after the store is closed. */
  cleanup(): Promise<void>;
}

/**
 * The behaviour every BlobStore driver must show. `factory` is called before each test and must
 * return an empty store. Each test removes the objects it made; the teardown fails the suite when
 * an object or any driver leftover remains.
 */
export function blobStoreContract(factory: () => Promise<StoreUnderTest>): void {
  describe('BlobStore contract', function () {
    let fixture: StoreUnderTest | undefined;
    let store: BlobStore;

    beforeEach(async function () {
      fixture = await factory();
      store = fixture.store;
    });

    afterEach(async function () {
      const current = fixture;
      fixture = undefined;
      if (current === undefined) return;
      let left: string[];
      try {
        left = await leftBehind(current);
      } finally {
        await current.store.close();
        await current.cleanup();
      }
      // a failed test reports its own error; its leftovers would only repeat it
      if (left.length > 0 && this.currentTest?.state === 'passed') {
        throw new Error(`left behind by "${this.currentTest.title}": ${left.join(', ')}`);
      }
    });

    async function assertNothingLeft(): Promise<void> {
      assert.ok(fixture);
      assert.deepEqual(await leftBehind(fixture), []);
    }

    async function expectStoreError(promise: Promise<unknown>, kind: StoreErrorKind): Promise<void> {
      await assert.rejects(promise, (err: unknown) => {
        assert.ok(isStoreError(err, kind), `expected StoreError ${kind}, got ${String(err)}`);
        assert.equal(err.storeId, store.id);
        return true;
      });
    }

    /** Puts `data`, checks the result against node's crypto, reads it back whole, stats it. */
    async function roundTrip(key: string, data: Buffer): Promise<void> {
      const result = await store.put(key, sourceOf(data));
      assert.deepEqual(result, digestsOf(data));
      const read = await store.get(key);
      assert.equal(read.length, data.length);
      assert.equal(read.totalSize, data.length);
      assert.ok((await readAll(read.body)).equals(data), 'content differs');
      assert.deepEqual(await store.stat(key), { size: data.length });
      assert.deepEqual(await keysOf(store), [key]);
    }

    async function expectRange(key: string, data: Buffer, start: number, end: number): Promise<void> {
      const read = await store.get(key, { start, end });
      assert.equal(read.length, end - start + 1);
      assert.equal(read.totalSize, data.length);
      assert.ok((await readAll(read.body)).equals(data.subarray(start, end + 1)), `bytes ${start}-${end} differ`);
    }

    describe('put and get', function () {
      it('stores a zero-byte object', async function () {
        await roundTrip('empty', Buffer.alloc(0));
        await store.delete('empty');
      });

      it('stores a one-byte object', async function () {
        await roundTrip('one', randomBytes(1));
        await store.delete('one');
      });

      it('stores exactly one part size', async function () {
        await roundTrip('one-part', randomBytes(CONTRACT_PART_SIZE));
        await store.delete('one-part');
      });

      it('stores an object of several parts and reads across a part boundary', async function () {
        const data = randomBytes(12 * MiB);
        await roundTrip('parts', data);
        await expectRange('parts', data, CONTRACT_PART_SIZE - 10, CONTRACT_PART_SIZE + 10);
        await expectRange('parts', data, 2 * CONTRACT_PART_SIZE, data.length - 1);
        await store.delete('parts');
      });

      it('accepts expectedSize and maxSize equal to the size', async function () {
        const data = randomBytes(100 * KiB);
        const result = await store.put('exact', sourceOf(data), { expectedSize: data.length, maxSize: data.length });
        assert.deepEqual(result, digestsOf(data));
        await store.delete('exact');
      });

      it('hides an object until its put completes', async function () {
        const data = randomBytes(CONTRACT_PART_SIZE + MiB);
        const source = new PassThrough();
        const putting = store.put('pending', source);
        await writeInto(source, data.subarray(0, CONTRACT_PART_SIZE + 512 * KiB));
        assert.deepEqual(await keysOf(store), []);
        await expectStoreError(store.stat('pending'), 'not_found');
        source.end(data.subarray(CONTRACT_PART_SIZE + 512 * KiB));
        assert.deepEqual(await putting, digestsOf(data));
        assert.deepEqual(await store.stat('pending'), { size: data.length });
        await store.delete('pending');
      });
    });

    describe('ranges (inclusive)', function () {
      const data = randomBytes(100 * KiB + 7);

      beforeEach(async function () {
        await store.put('ranged', sourceOf(data));
      });

      afterEach(async function () {
        await store?.delete('ranged');
      });

      it('reads the first byte as {0, 0}', async function () {
        await expectRange('ranged', data, 0, 0);
      });

      it('reads the last byte', async function () {
        await expectRange('ranged', data, data.length - 1, data.length - 1);
      });

      it('reads a middle slice', async function () {
        await expectRange('ranged', data, 1000, 54_321);
      });

      it('reads the whole object as a range', async function () {
        await expectRange('ranged', data, 0, data.length - 1);
      });

      it('reads the last N bytes as resolved by the caller', async function () {
        const n = 500;
        await expectRange('ranged', data, data.length - n, data.length - 1);
      });

      it('reads {0, 0} of a one-byte object', async function () {
        const one = randomBytes(1);
        await store.put('single', sourceOf(one));
        await expectRange('single', one, 0, 0);
        await store.delete('single');
      });

      it('rejects a range that is not within the object', async function () {
        await assert.rejects(store.get('ranged', { start: 10, end: data.length }), RangeError);
        await assert.rejects(store.get('ranged', { start: data.length, end: data.length + 5 }), RangeError);
        await assert.rejects(store.get('ranged', { start: 10, end: 9 }), RangeError);
      });
    });

    describe('stat, delete and missing keys', function () {
      it('deletes an object and deleting it again succeeds', async function () {
        await store.put('doomed', sourceOf(randomBytes(10)));
        await store.delete('doomed');
        await expectStoreError(store.get('doomed'), 'not_found');
        await expectStoreError(store.stat('doomed'), 'not_found');
        await store.delete('doomed');
        assert.deepEqual(await keysOf(store), []);
      });

      it('treats deleting a key that never existed as success', async function () {
        await store.delete('never-was');
        await store.delete('never/was/either');
      });

      it('rejects get and stat of a missing key with not_found', async function () {
        await expectStoreError(store.get('missing'), 'not_found');
        await expectStoreError(store.get('missing', { start: 0, end: 0 }), 'not_found');
        await expectStoreError(store.stat('missing'), 'not_found');
        await expectStoreError(store.stat('missing/deeper'), 'not_found');
      });
    });

    describe('local path (optional: drivers whose objects are local files)', function () {
      it('names a file holding exactly the object, and not_found for a missing key', async function () {
        if (!store.localPath) {
          assert.notEqual(store.type, 'file', 'the filesystem driver offers local paths');
          return;
        }
        const data = randomBytes(70_000);
        await store.put('local/path', sourceOf(data));
        const file = await store.localPath('local/path');
        assert.ok(isAbsolute(file), `${file} is not absolute`);
        assert.ok((await readFile(file)).equals(data), 'the file differs from the object');
        await expectStoreError(store.localPath('missing'), 'not_found');
        await store.delete('local/path');
      });
    });

    describe('overwrite', function () {
      it('replaces an object, also with a shorter one', async function () {
        await store.put('key', sourceOf(randomBytes(MiB)));
        const replacement = randomBytes(10);
        assert.deepEqual(await store.put('key', sourceOf(replacement)), digestsOf(replacement));
        assert.ok((await readAll((await store.get('key')).body)).equals(replacement));
        assert.deepEqual(await store.stat('key'), { size: 10 });
        await store.delete('key');
      });

      it('keeps the previous object when an overwrite fails', async function () {
        const original = randomBytes(200 * KiB);
        await store.put('key', sourceOf(original));
        const failure = new Error('source broke');
        await assert.rejects(store.put('key', failingSource(randomBytes(CONTRACT_PART_SIZE + MiB), CONTRACT_PART_SIZE + 512 * KiB, failure)), (err) => err === failure);
        assert.ok((await readAll((await store.get('key')).body)).equals(original));
        await store.delete('key');
      });
    });

    describe('failed puts leave nothing behind', function () {
      it('rethrows the error of a source that fails halfway', async function () {
        const failure = new Error('source broke');
        await assert.rejects(store.put('broken', failingSource(randomBytes(100 * KiB), 50 * KiB, failure)), (err) => err === failure);
        await assertNothingLeft();
      });

      it('rethrows the error of a source that fails after the first part', async function () {
        const failure = new Error('source broke');
        await assert.rejects(store.put('broken', failingSource(randomBytes(12 * MiB), 7 * MiB, failure)), (err) => err === failure);
        await assertNothingLeft();
      });

      it('fails with aborted when the signal fires mid-stream', async function () {
        const source = new PassThrough();
        const controller = new AbortController();
        const putting = store.put('aborted', source, { signal: controller.signal });
        await writeInto(source, randomBytes(CONTRACT_PART_SIZE + MiB));
        controller.abort();
        await expectStoreError(putting, 'aborted');
        await assertNothingLeft();
      });

      it('fails with aborted when the signal fired before the put', async function () {
        const controller = new AbortController();
        controller.abort();
        await expectStoreError(store.put('aborted', sourceOf(randomBytes(10)), { signal: controller.signal }), 'aborted');
        await assertNothingLeft();
      });

      it('fails with too_large as soon as maxSize is exceeded', async function () {
        const maxSize = CONTRACT_PART_SIZE + MiB;
        const endless = countingSource(64 * MiB);
        await expectStoreError(store.put('big', endless.source, { maxSize }), 'too_large');
        assert.ok(endless.pulled() < maxSize + MiB, `read ${endless.pulled()} bytes past a limit of ${maxSize}`);
        await assertNothingLeft();
      });

      it('fails with too_large for a small object over a small limit', async function () {
        await expectStoreError(store.put('big', sourceOf(randomBytes(2 * KiB)), { maxSize: KiB }), 'too_large');
        await assertNothingLeft();
      });

      it('fails with size_mismatch as soon as more than expectedSize arrives', async function () {
        const expectedSize = CONTRACT_PART_SIZE + MiB;
        const endless = countingSource(64 * MiB);
        await expectStoreError(store.put('more', endless.source, { expectedSize }), 'size_mismatch');
        assert.ok(endless.pulled() < expectedSize + MiB, `read ${endless.pulled()} bytes past ${expectedSize}`);
        await expectStoreError(store.put('more', sourceOf(randomBytes(15)), { expectedSize: 10 }), 'size_mismatch');
        await assertNothingLeft();
      });

      it('fails with size_mismatch when fewer than expectedSize bytes arrive', async function () {
        await expectStoreError(store.put('fewer', sourceOf(randomBytes(CONTRACT_PART_SIZE + MiB)), { expectedSize: 12 * MiB }), 'size_mismatch');
        await expectStoreError(store.put('fewer', sourceOf(randomBytes(5)), { expectedSize: 10 }), 'size_mismatch');
        await expectStoreError(store.put('fewer', sourceOf(Buffer.alloc(0)), { expectedSize: 1 }), 'size_mismatch');
        await assertNothingLeft();
      });
    });

    describe('concurrency', function () {
      it('runs puts to different keys side by side', async function () {
        const objects = [0, 1, 1000, 64 * KiB, 300 * KiB, MiB + 3, 2 * MiB, CONTRACT_PART_SIZE + MiB].map((size, i) => ({
          key: `concurrent-${i}`,
          data: randomBytes(size),
        }));
        const results = await Promise.all(objects.map(({ key, data }) => store.put(key, sourceOf(data))));
        results.forEach((result, i) => assert.deepEqual(result, digestsOf(objects[i].data)));
        for (const { key, data } of objects) {
          assert.ok((await readAll((await store.get(key)).body)).equals(data), `${key} differs`);
        }
        assert.deepEqual(await keysOf(store), objects.map((o) => o.key).sort());
        await Promise.all(objects.map(({ key }) => store.delete(key)));
      });

      it('leaves one complete object when puts to the same key race', async function () {
        const candidates = [randomBytes(MiB), randomBytes(MiB), randomBytes(MiB + 1), randomBytes(CONTRACT_PART_SIZE + MiB), randomBytes(10)];
        const results = await Promise.all(candidates.map((data) => store.put('contested', sourceOf(data))));
        results.forEach((result, i) => assert.deepEqual(result, digestsOf(candidates[i])));
        const stored = await readAll((await store.get('contested')).body);
        const winner = candidates.find((data) => data.equals(stored));
        assert.ok(winner, 'stored content is none of the candidates intact');
        assert.deepEqual(await store.stat('contested'), { size: winner.length });
        assert.deepEqual(await keysOf(store), ['contested']);
        await store.delete('contested');
      });
    });

    describe('last modified and temporaries of unfinished puts', function () {
      /** Starts a put of `data` into `key` that stalls after more than one part; resolves once the driver holds a temporary for it. */
      async function stalledPut(key: string, data: Buffer): Promise<{ source: PassThrough; putting: Promise<PutResult> }> {
        assert.ok(fixture);
        const source = new PassThrough();
        const putting = store.put(key, source);
        putting.catch(() => undefined);
        await writeInto(source, data.subarray(0, CONTRACT_PART_SIZE + 512 * KiB));
        for (let attempt = 0; (await fixture.leftovers()).length === 0; attempt++) {
          if (attempt >= 200) assert.fail('the stalled put has no temporary');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return { source, putting };
      }

      it('tells when an object was last written, and not_found for a missing key', async function () {
        const before = Date.now();
        await store.put('dated', sourceOf(Buffer.from('x')));
        const after = Date.now();
        const modified = (await store.lastModified('dated')).getTime();
        // S3 reports whole seconds
        assert.ok(modified >= before - 2000 && modified <= after + 2000, `${new Date(modified).toISOString()} is not the time of the put`);
        await expectStoreError(store.lastModified('missing'), 'not_found');
        await store.delete('dated');
      });

      it('sweeps nothing when no put is unfinished, and never a committed object', async function () {
        await store.put('committed', sourceOf(Buffer.from('kept')));
        assert.equal(await store.sweepTemporary({ olderThan: new Date(Date.now() + 3600_000) }), 0);
        assert.deepEqual(await keysOf(store), ['committed']);
        await store.delete('committed');
      });

      it('keeps the temporary of a put that is younger than the cutoff or in use, and the put completes', async function () {
        const data = randomBytes(CONTRACT_PART_SIZE + MiB);
        const { source, putting } = await stalledPut('in-progress', data);
        assert.equal(await store.sweepTemporary({ olderThan: new Date(Date.now() - 3600_000) }), 0);
        const asked: string[] = [];
        const inUse = async (key: string): Promise<boolean> => {
          asked.push(key);
          return key === 'in-progress';
        };
        assert.equal(await store.sweepTemporary({ olderThan: new Date(Date.now() + 3600_000), inUse }), 0);
        assert.deepEqual(asked, ['in-progress']);
        source.end(data.subarray(CONTRACT_PART_SIZE + 512 * KiB));
        assert.deepEqual(await putting, digestsOf(data));
        assert.deepEqual(await keysOf(store), ['in-progress']);
        await store.delete('in-progress');
      });

      it('removes the temporary of an abandoned put; a put still running on it then fails and leaves nothing', async function () {
        const data = randomBytes(CONTRACT_PART_SIZE + MiB);
        const { source, putting } = await stalledPut('abandoned', data);
        assert.equal(await store.sweepTemporary({ olderThan: new Date(Date.now() + 3600_000), inUse: async () => false }), 1);
        assert.equal(await store.sweepTemporary({ olderThan: new Date(Date.now() + 3600_000) }), 0, 'a second sweep finds nothing');
        source.end(data.subarray(CONTRACT_PART_SIZE + 512 * KiB));
        await assert.rejects(putting);
        await assertNothingLeft();
      });
    });

    describe('keys', function () {
      it('accepts keys with slashes and lists by prefix', async function () {
        const keys = ['images/a/one', 'images/a/two', 'images/b', 'other'];
        for (const key of keys) await store.put(key, sourceOf(Buffer.from(key)));
        assert.deepEqual(await keysOf(store), [...keys].sort());
        assert.deepEqual(await keysOf(store, 'images/'), ['images/a/one', 'images/a/two', 'images/b']);
        assert.deepEqual(await keysOf(store, 'images/a/'), ['images/a/one', 'images/a/two']);
        assert.deepEqual(await keysOf(store, 'images/a/t'), ['images/a/two']);
        assert.deepEqual(await keysOf(store, 'oth'), ['other']);
        assert.deepEqual(await keysOf(store, 'nothing'), []);
        assert.equal((await readAll((await store.get('images/a/two')).body)).toString(), 'images/a/two');
        for (const key of keys) await store.delete(key);
        assert.deepEqual(await keysOf(store), []);
      });

      it('rejects invalid keys with invalid_key', async function () {
        for (const key of ['../x', 'a/../../x', '', '/abs', 'a//b', 'a/', './a', 'a b', 'a\\b']) {
          await expectStoreError(store.put(key, sourceOf(Buffer.from('x'))), 'invalid_key');
          await expectStoreError(store.get(key), 'invalid_key');
          await expectStoreError(store.stat(key), 'invalid_key');
          await expectStoreError(store.delete(key), 'invalid_key');
        }
        await assertNothingLeft();
      });
    });
  });
}

async function leftBehind(fixture: StoreUnderTest): Promise<string[]> {
  const objects = (await keysOf(fixture.store)).map((key) => `object ${key}`);
  return [...objects, ...(await fixture.leftovers())];
}

async function keysOf(store: BlobStore, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const key of store.list(prefix)) keys.push(key);
  return keys.sort();
}

function digestsOf(data: Buffer): PutResult {
  return {
    size: data.length,
    md5: createHash('md5').update(data).digest('hex'),
    sha512: createHash('sha512').update(data).digest('hex'),
  };
}

function* chunksOf(data: Buffer, size = 64 * KiB): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

function sourceOf(data: Buffer): Readable {
  return Readable.from(chunksOf(data));
}

/** Delivers the first `failAfter` bytes of `data`, then fails with `error`. */
function failingSource(data: Buffer, failAfter: number, error: Error): Readable {
  return Readable.from(
    (async function* () {
      yield* chunksOf(data.subarray(0, failAfter));
      throw error;
    })(),
  );
}

/** A source of `total` bytes that records how many of them were read. */
function countingSource(total: number): { source: Readable; pulled(): number } {
  const chunk = Buffer.alloc(16 * KiB, 0x5a);
  let pulled = 0;
  const source = Readable.from(
    (function* () {
      while (pulled < total) {
        pulled += chunk.length;
        yield chunk;
      }
    })(),
  );
  return { source, pulled: () => pulled };
}

/** Writes `data` into a stream the store is reading, honouring back-pressure. */
async function writeInto(target: PassThrough, data: Buffer): Promise<void> {
  for (const chunk of chunksOf(data)) {
    if (!target.write(chunk)) await drainedOrClosed(target);
    if (target.destroyed) throw new Error('the store stopped reading');
  }
}

function drainedOrClosed(target: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      target.off('drain', done);
      target.off('close', done);
      resolve();
    };
    target.on('drain', done);
    target.on('close', done);
  });
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
