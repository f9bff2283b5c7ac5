import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { buildApp, type GlintApp } from '../../../src/app';
import { isGlintError } from '../../../src/domain/errors';
import type { Image } from '../../../src/domain/image';
import { IngestPipeline, type IngestRequest } from '../../../src/domain/ingest';
import { Reconciler } from '../../../src/domain/reconciler';
import { createLogger } from '../../../src/lib/logger';
import { startTestApp, type TestApp } from '../../support/app';
import { newImageRecord } from '../../support/records';
import { randomData } from '../../support/random-data';

const silent = createLogger({ silent: true });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LONG_AGO = new Date(Date.now() - 24 * 3600_000);

/**
 * Two nodes on one SQLite file and one filesystem store: node A writes, node B reconciles. What
 * B may recover or delete is only what a dead node left: a write whose lease expired, a temporary
 * idle past the grace period whose image is no longer being written, an object nothing references.
 */
describe('reconciler: recovers what dead nodes left, never what a live node is writing', function () {
  this.timeout(30_000);
  let a: TestApp;
  let b: GlintApp;
  let dataDir: string;

  beforeEach(async () => {
    a = await startTestApp('[DEFAULT]\ndisk_formats = raw\n', { GLINT_DATABASE_CONNECTION: 'sqlite:///glint.db' }, { startWorkers: false });
    b = await buildApp(a.config, { logger: silent, accessLog: null, migrate: false, startWorkers: false });
    dataDir = path.join(a.dir, 'data/images');
    const details = a.app.stores.default.details();
    assert.equal(details.type, 'file');
    dataDir = details.dataDir;
  });
  afterEach(async () => {
    await b.close();
    await a.close();
  });

  function reconcilerOn(app: GlintApp, orphanGraceMs: number): Reconciler {
    return new Reconciler({ catalog: app.catalog, stores: app.stores, logger: silent, intervalMs: 60_000, orphanGraceMs });
  }

  async function queuedImage(): Promise<Image> {
    return a.app.catalog.images.create(newImageRecord({ name: 'i', containerFormat: 'bare', diskFormat: 'raw' }));
  }

  function uploadRequest(image: Image, source: Readable): IngestRequest {
    return {
      image,
      store: a.app.stores.default,
      key: image.id,
      source,
      reserveAs: 'saving',
      commit: (data) => ({ attributes: { status: 'active', size: data.size, checksum: data.md5 }, addLocations: [{ storeId: data.storeId, key: data.key }] }),
    };
  }

  async function keys(): Promise<string[]> {
    const found: string[] = [];
    for await (const key of a.app.stores.default.list()) found.push(key);
    return found.sort();
  }

  const tempFiles = async () => readdir(path.join(dataDir, '.tmp')).catch(() => [] as string[]);

  it('leaves an upload in progress on another node alone: its lease is renewed, its temp file kept though idle past the grace period', async () => {
    const leaseMs = 300;
    const ingest = new IngestPipeline({ images: a.app.catalog.images, limits: a.config.limits, logger: silent, writeLeaseMs: leaseMs });
    const image = await queuedImage();
    const data = randomData(3 * 1024 * 1024);
    const source = new PassThrough();
    const writing = ingest.write(uploadRequest(image, source));
    source.write(data.subarray(0, 1024 * 1024));
    // the client pauses for several lease lengths and past the grace period; node B reconciles meanwhile
    const reconciler = reconcilerOn(b, 100);
    for (let run = 0; run < 8; run++) {
      await sleep(leaseMs / 2);
      const report = await reconciler.runOnce();
      assert.deepEqual(report, { recovered: 0, orphansDeleted: 0, temporariesRemoved: 0 }, `run ${run}`);
      assert.equal((await b.catalog.images.get(image.id))?.status, 'saving');
    }
    assert.equal((await tempFiles()).length, 1, 'the upload still has its temp file');
    source.end(data.subarray(1024 * 1024));
    const { image: active } = await writing;
    assert.equal(active.status, 'active');
    assert.equal(active.checksum, createHash('md5').update(data).digest('hex'));
    assert.ok((await readFile(path.join(dataDir, image.id))).equals(data));
    assert.deepEqual(await reconciler.runOnce(), { recovered: 0, orphansDeleted: 0, temporariesRemoved: 0 });
    assert.deepEqual(await keys(), [image.id]);
  });

  it("recovers a dead node's write: the image back to queued once its lease expired, its temp file and half-committed object swept after the grace period", async () => {
    const catalog = b.catalog;
    // what a node killed mid-upload leaves: the reservation with its lease, a temp file, and (killed
    // between the store's commit and the catalog's) an object under the image's key
    const image = await queuedImage();
    await catalog.images.update(image.id, { attributes: { status: 'saving' }, writeLease: { holder: 'dead-node-write', expiresAt: new Date(Date.now() + 200) } }, { status: 'queued' });
    await mkdir(path.join(dataDir, '.tmp'), { recursive: true });
    const temp = path.join(dataDir, '.tmp', `00000000-0000-4000-8000-000000000000+${image.id}`);
    await writeFile(temp, 'partial');
    await writeFile(path.join(dataDir, image.id), 'whole but never committed');
    const reconciler = reconcilerOn(b, 60_000);

    // lease still running: nothing happens
    assert.deepEqual(await reconciler.runOnce(), { recovered: 0, orphansDeleted: 0, temporariesRemoved: 0 });
    assert.equal((await catalog.images.get(image.id))?.status, 'saving');
    await sleep(300);
    // lease expired: the image is recovered, the files are still younger than the grace period
    assert.deepEqual(await reconciler.runOnce(), { recovered: 1, orphansDeleted: 0, temporariesRemoved: 0 });
    const recovered = await catalog.images.get(image.id);
    assert.equal(recovered?.status, 'queued');
    assert.equal(recovered?.size, null);
    assert.deepEqual(await keys(), [image.id]);
    // past the grace period both go
    await utimes(temp, LONG_AGO, LONG_AGO);
    await utimes(path.join(dataDir, image.id), LONG_AGO, LONG_AGO);
    assert.deepEqual(await reconciler.runOnce(), { recovered: 0, orphansDeleted: 1, temporariesRemoved: 1 });
    assert.deepEqual(await keys(), []);
    assert.deepEqual(await tempFiles(), []);
    // and the image takes a new upload
    const ingest = new IngestPipeline({ images: a.app.catalog.images, limits: a.config.limits, logger: silent });
    const { image: active } = await ingest.write(uploadRequest((await a.app.catalog.images.get(image.id)) as Image, Readable.from([Buffer.from('again')])));
    assert.equal(active.status, 'active');
  });

  it('never touches a staged image, referenced data, or a young unreferenced object', async () => {
    const { catalog, stores } = b;
    const store = stores.default;
    const staged = await queuedImage();
    await store.put(`staging/${staged.id}`, Readable.from([Buffer.from('staged')]));
    await catalog.images.update(staged.id, { attributes: { status: 'uploading', size: 6 }, writeLease: null }, { status: 'queued' });
    const active = await queuedImage();
    await store.put(active.id, Readable.from([Buffer.from('active data')]));
    await catalog.images.update(active.id, { attributes: { status: 'active', size: 11 }, addLocations: [{ storeId: store.id, key: active.id }] });
    for (const key of [`staging/${staged.id}`, active.id]) await utimes(path.join(dataDir, key), LONG_AGO, LONG_AGO);
    await store.put('young-orphan', Readable.from([Buffer.from('written a moment ago')]));
    const old = 'old-orphan';
    await store.put(old, Readable.from([Buffer.from('nobody refers to me')]));
    await utimes(path.join(dataDir, old), LONG_AGO, LONG_AGO);

    assert.deepEqual(await reconcilerOn(b, 60_000).runOnce(), { recovered: 0, orphansDeleted: 1, temporariesRemoved: 0 });
    assert.deepEqual(await keys(), [active.id, `staging/${staged.id}`, 'young-orphan'].sort());
    assert.equal((await catalog.images.get(staged.id))?.status, 'uploading');
    assert.equal((await catalog.images.get(active.id))?.status, 'active');
  });

  it('puts an importing image whose task is gone or finished back to queued, and leaves one whose task is running', async () => {
    const { catalog } = b;
    const running = await catalog.tasks.create({ id: 'task-running', type: 'api_image_import', owner: null, imageId: null, requestId: null, userId: null, input: {} });
    const finished = await catalog.tasks.create({ id: 'task-finished', type: 'api_image_import', owner: null, imageId: null, requestId: null, userId: null, input: {} });
    await catalog.tasks.update(finished.id, { status: 'failure', message: 'it ended' });
    const images: Record<string, Image> = {};
    for (const [name, task] of [['running', running.id], ['finished', finished.id], ['gone', 'task-that-never-was']] as const) {
      const image = await queuedImage();
      await catalog.images.update(image.id, {
        attributes: { status: 'importing', size: 5, checksum: 'c'.repeat(32) },
        setProperties: { os_glance_import_task: task, os_glance_importing_to_stores: 'x' },
        addLocations: [{ storeId: b.stores.default.id, key: image.id }],
      });
      images[name] = image;
    }
    assert.equal((await reconcilerOn(b, 60_000).runOnce()).recovered, 2);
    assert.equal((await catalog.images.get(images.running.id))?.status, 'importing');
    for (const name of ['finished', 'gone']) {
      const image = await catalog.images.get(images[name].id);
      assert.equal(image?.status, 'queued', name);
      assert.equal(image?.size, null);
      assert.equal(image?.checksum, null);
      assert.deepEqual(image?.locations, []);
      assert.equal(image?.properties.os_glance_import_task, undefined);
    }
  });

  it('a write whose image is deleted stops at once, before the client has sent everything (410)', async () => {
    const ingest = new IngestPipeline({ images: a.app.catalog.images, limits: a.config.limits, logger: silent, writeLeaseMs: 150 });
    const image = await queuedImage();
    const source = new PassThrough();
    const writing = ingest.write(uploadRequest(image, source));
    source.write(Buffer.alloc(64 * 1024));
    await sleep(50);
    assert.ok(await b.catalog.images.markDeleted(image.id));
    await assert.rejects(writing, (err: unknown) => isGlintError(err) && err.code === 'IMAGE_GONE');
    assert.equal(source.destroyed, true, 'the source is no longer read');
    assert.deepEqual(await keys(), []);
    assert.deepEqual(await tempFiles(), []);
  });
});
