import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { GlintError, isGlintError } from '../../../src/domain/errors';
import type { Image } from '../../../src/domain/image';
import { IngestPipeline, type IngestRequest } from '../../../src/domain/ingest';
import type { ImageRepository } from '../../../src/domain/repositories';
import { createLogger } from '../../../src/lib/logger';
import type { BlobStore } from '../../../src/stores/blob-store';
import { startTestApp, type TestApp } from '../../support/app';
import { newImageRecord } from '../../support/records';

/**
 * The ingest pipeline on the real SQLite catalog and filesystem store: after a failure at any
 * step the image is back where it was and the store holds nothing under its key.
 */
describe('ingest pipeline: reserve → write → commit, rolled back on every failure', () => {
  let t: TestApp;
  let store: BlobStore;

  beforeEach(async () => {
    t = await startTestApp('[DEFAULT]\nimage_size_cap = 1000\n', {}, { startWorkers: false });
    store = t.app.stores.default;
  });
  afterEach(async () => {
    await t.close();
  });

  async function queuedImage(owner: string | null = null): Promise<Image> {
    return t.app.catalog.images.create(newImageRecord({ name: 'i', visibility: 'private', owner, containerFormat: 'bare', diskFormat: 'raw' }));
  }

  function pipeline(images: ImageRepository = t.app.catalog.images, limits = t.config.limits): IngestPipeline {
    return new IngestPipeline({ images, limits, logger: createLogger({ silent: true }) });
  }

  function upload(image: Image, source: Readable, extra: Partial<IngestRequest> = {}): IngestRequest {
    return {
      image,
      store,
      key: image.id,
      source,
      reserveAs: 'saving',
      commit: (data) => ({
        attributes: { status: 'active', size: data.size, checksum: data.md5, osHashAlgo: 'sha512', osHashValue: data.sha512 },
        addLocations: [{ storeId: data.storeId, key: data.key }],
      }),
      ...extra,
    };
  }

  async function keysInStore(): Promise<string[]> {
    const keys: string[] = [];
    for await (const key of store.list()) keys.push(key);
    return keys;
  }

  async function assertRolledBack(image: Image, code: string, attempt: Promise<unknown>): Promise<void> {
    await assert.rejects(attempt, (err: unknown) => isGlintError(err) && err.code === code);
    const after = await t.app.catalog.images.get(image.id);
    assert.equal(after?.status, 'queued');
    assert.equal(after?.size, null);
    assert.deepEqual(after?.locations, []);
    assert.deepEqual(await keysInStore(), []);
  }

  /** A repository whose update fails (or loses) on the n-th call; other calls go to the real one. */
  /** `lost-answer`: the n-th update applies, then its caller gets an error (the connection dropped). */
  function failingUpdate(n: number, outcome: 'throw' | 'lose' | 'lost-answer'): ImageRepository {
    const real = t.app.catalog.images;
    let calls = 0;
    return new Proxy(real, {
      get(target, property, receiver) {
        if (property !== 'update') return Reflect.get(target, property, receiver) as unknown;
        return async (...args: Parameters<ImageRepository['update']>) => {
          calls += 1;
          if (calls === n) {
            if (outcome === 'lost-answer') await real.update(...args);
            if (outcome !== 'lose') throw new Error('database went away');
            return null;
          }
          return real.update(...args);
        };
      },
    });
  }

  it('commits status, size, digests and the location in one step', async () => {
    const image = await queuedImage();
    const bytes = Buffer.from('hello ingest');
    const { image: active, data } = await pipeline().write(upload(image, Readable.from([bytes]), { headBytes: 4 }));
    assert.equal(active.status, 'active');
    assert.equal(active.size, bytes.length);
    assert.equal(active.checksum, createHash('md5').update(bytes).digest('hex'));
    assert.equal(active.osHashValue, createHash('sha512').update(bytes).digest('hex'));
    assert.deepEqual(active.locations.map((l) => [l.storeId, l.key]), [[store.id, image.id]]);
    assert.deepEqual(data.head, bytes.subarray(0, 4));
    assert.deepEqual(await keysInStore(), [image.id]);
  });

  it('refuses a reservation the status table does not allow, and writes nothing', async () => {
    const image = await queuedImage();
    const active = { ...image, status: 'active' as const };
    await assert.rejects(pipeline().write(upload(active, Readable.from([Buffer.from('x')]))), (err: unknown) => isGlintError(err, 'IMAGE_INVALID_STATUS'));
    assert.deepEqual(await keysInStore(), []);
  });

  it('loses the reservation race when the image changed status meanwhile', async () => {
    const image = await queuedImage();
    await t.app.catalog.images.update(image.id, { attributes: { status: 'uploading' } });
    await assert.rejects(pipeline().write(upload(image, Readable.from([Buffer.from('x')]))), (err: unknown) => isGlintError(err, 'IMAGE_UPLOAD_RACE_LOST'));
    assert.equal((await t.app.catalog.images.get(image.id))?.status, 'uploading');
    assert.deepEqual(await keysInStore(), []);
  });

  it('source fails halfway: the image is queued again and no object is left', async () => {
    const image = await queuedImage();
    async function* halfway() {
      yield Buffer.alloc(100, 1);
      throw Object.assign(new Error('client closed the connection'), { code: 'ECONNRESET' });
    }
    await assertRolledBack(image, 'UPLOAD_ABORTED', pipeline().write(upload(image, Readable.from(halfway()))));
  });

  it('more than image_size_cap bytes: 413 code, rolled back', async () => {
    const image = await queuedImage();
    await assertRolledBack(image, 'IMAGE_SIZE_CAP_EXCEEDED', pipeline().write(upload(image, Readable.from([Buffer.alloc(1001)]))));
  });

  it('the owner quota is exceeded once the size is known: the written object is deleted', async () => {
    const image = await queuedImage('project-a');
    const limits = { ...t.config.limits, userStorageQuota: 10, imageSizeCap: 1000 };
    // the quota is checked again after the write (the declared length was not known up front)
    const tight = pipeline(t.app.catalog.images, limits);
    await assertRolledBack(image, 'STORAGE_QUOTA_EXCEEDED', tight.write(upload(image, Readable.from([Buffer.alloc(11)]))));
  });

  it('the store refuses the write: the status is released', async () => {
    const image = await queuedImage();
    const broken: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      put: async () => {
        throw Object.assign(new Error('disk full'), { name: 'StoreError' });
      },
    });
    await assert.rejects(pipeline().write(upload(image, Readable.from([Buffer.from('x')]), { store: broken })), /disk full/);
    assert.equal((await t.app.catalog.images.get(image.id))?.status, 'queued');
  });

  it('the image is deleted while its data is written: IMAGE_GONE and the object is deleted', async () => {
    const image = await queuedImage();
    async function* slow() {
      yield Buffer.from('first part ');
      await t.app.catalog.images.markDeleted(image.id);
      yield Buffer.from('second part');
    }
    await assert.rejects(pipeline().write(upload(image, Readable.from(slow()))), (err: unknown) => isGlintError(err, 'IMAGE_GONE'));
    assert.deepEqual(await keysInStore(), []);
  });

  it('the commit update throws: the object is deleted and the image released', async () => {
    const image = await queuedImage();
    // update #1 reserves, #2 commits
    await assert.rejects(pipeline(failingUpdate(2, 'throw')).write(upload(image, Readable.from([Buffer.from('data')]))), /database went away/);
    const after = await t.app.catalog.images.get(image.id);
    assert.equal(after?.status, 'queued');
    assert.deepEqual(await keysInStore(), []);
  });

  it('the commit applies but its answer is lost: the object is kept for the active image', async () => {
    const image = await queuedImage();
    const bytes = Buffer.from('committed after all');
    await assert.rejects(pipeline(failingUpdate(2, 'lost-answer')).write(upload(image, Readable.from([bytes]))), /database went away/);
    const after = await t.app.catalog.images.get(image.id);
    assert.equal(after?.status, 'active');
    assert.deepEqual(after?.locations.map((l) => l.key), [image.id]);
    assert.deepEqual(await keysInStore(), [image.id]);
    const read = await store.get(image.id);
    const chunks: Buffer[] = [];
    for await (const chunk of read.body) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(bytes));
  });

  it('the commit condition fails: IMAGE_GONE, the object is deleted and the image released', async () => {
    const image = await queuedImage();
    await assertRolledBack(image, 'IMAGE_GONE', pipeline(failingUpdate(2, 'lose')).write(upload(image, Readable.from([Buffer.from('data')]))));
  });

  it('the release itself fails: the caller still gets the original error', async () => {
    const image = await queuedImage();
    // #1 reserves, #2 (release after the size cap) throws
    await assert.rejects(pipeline(failingUpdate(2, 'throw')).write(upload(image, Readable.from([Buffer.alloc(1001)]))), (err: unknown) => isGlintError(err, 'IMAGE_SIZE_CAP_EXCEEDED'));
    assert.deepEqual(await keysInStore(), []);
    // left in saving for the reconciler
    assert.equal((await t.app.catalog.images.get(image.id))?.status, 'saving');
  });

  it('without a reservation (a copy into another store) a failure only removes the object', async () => {
    const image = await queuedImage();
    await t.app.catalog.images.update(image.id, { attributes: { status: 'active' } });
    const active = (await t.app.catalog.images.get(image.id)) as Image;
    const copy = upload(active, Readable.from([Buffer.alloc(1001)]), { reserveAs: undefined, commitIf: 'active' });
    await assert.rejects(pipeline().write(copy), (err: unknown) => isGlintError(err, 'IMAGE_SIZE_CAP_EXCEEDED'));
    assert.equal((await t.app.catalog.images.get(image.id))?.status, 'active');
    assert.deepEqual(await keysInStore(), []);
  });

  it('a disk-format check refusing the head fails the write at once: rolled back, nothing stored, the rest unread', async () => {
    const image = await queuedImage();
    const wide = pipeline(t.app.catalog.images, { ...t.config.limits, imageSizeCap: 10_000_000 });
    let pulled = 0;
    async function* slow() {
      for (let i = 0; i < 1000; i++) {
        pulled += 1;
        yield Buffer.alloc(1000, 1);
      }
    }
    const refuse = () => {
      throw new GlintError('IMAGE_DATA_INVALID', 'Image failed safety checks');
    };
    await assertRolledBack(image, 'IMAGE_DATA_INVALID', wide.write(upload(image, Readable.from(slow()), { check: { headBytes: 4096, onHead: refuse } })));
    assert.ok(pulled < 100, `the source was read on after the refusal (${pulled} chunks)`);
  });

  it('a disk-format check refusing at the end fails the write before it commits', async () => {
    const image = await queuedImage();
    const refuse = () => {
      throw new GlintError('IMAGE_DATA_INVALID', 'Footer marker is invalid');
    };
    await assertRolledBack(image, 'IMAGE_DATA_INVALID', pipeline().write(upload(image, Readable.from([Buffer.alloc(500, 2)]), { check: { headBytes: 64, onHead: () => 16, onEnd: refuse } })));
  });

  it('an accepted check sees the head and the tail it asked for', async () => {
    const image = await queuedImage();
    const bytes = Buffer.from(Array.from({ length: 900 }, (_, i) => i % 251));
    let seenHead: Buffer = Buffer.alloc(0);
    let seenTail: Buffer = Buffer.alloc(0);
    const check = {
      headBytes: 100,
      onHead: (h: Buffer) => ((seenHead = h), 10),
      onEnd: (tail: Buffer) => void (seenTail = tail),
    };
    const chunks = [bytes.subarray(0, 50), bytes.subarray(50, 333), bytes.subarray(333, 895), bytes.subarray(895)];
    const { image: active } = await pipeline().write(upload(image, Readable.from(chunks), { check }));
    assert.equal(active.status, 'active');
    assert.deepEqual(seenHead, bytes.subarray(0, 100));
    assert.deepEqual(seenTail, bytes.subarray(890));
  });
});
