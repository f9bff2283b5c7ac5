import { strict as assert } from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import { unauthenticatedContext } from '../../../src/domain/context';
import { ChunkedUploadService, EDGEGALLERY_UPLOADS } from '../../../src/domain/file-management/chunked-uploads';
import type { FileStorer, StoredFile, StoreFileRequest } from '../../../src/domain/file-management/model';
import { IngestPipeline } from '../../../src/domain/ingest';
import { createLogger } from '../../../src/lib/logger';
import { randomData } from '../../support/random-data';
import { startTestApp, type TestApp } from '../../support/app';
import { assertError, assertNothingStaged, merge, postChunk, staged } from './chunk-support';

const KiB = 1024;

/** Abandoned uploads: `[edgegallery] chunk_upload_expiry` after their last chunk, the reconciler of any node removes them. */
describe('EdgeGallery chunked upload: expiry', function () {
  this.timeout(30_000);
  let t: TestApp;
  afterEach(async function () {
    await t?.close();
  });

  it('the reconciler removes an upload idle past chunk_upload_expiry (objects and rows); a fresher one stays', async function () {
    t = await startTestApp('[edgegallery]\nchunk_upload_expiry = 60\n', {}, { startWorkers: false });
    const expiryOf = async (identifier: string) => (await t.app.catalog.chunkedUploads.find({ surface: EDGEGALLERY_UPLOADS, clientKey: identifier }))?.expiresAt.getTime() ?? 0;
    const before = Date.now();
    await postChunk(t.http, 'upload-idle', 1, randomData(KiB));
    await postChunk(t.http, 'upload-idle', 2, randomData(KiB));
    const idleExpiry = await expiryOf('upload-idle');
    assert.ok(idleExpiry >= before + 60_000 && idleExpiry <= Date.now() + 60_000, 'a chunk moves the expiry to a minute from now');
    await t.app.reconciler.runOnce(new Date(idleExpiry - 1), { sweepStores: false });
    assert.equal((await staged(t.app)).chunks, 2, 'not idle long enough yet');
    await sleep(20);
    await postChunk(t.http, 'upload-fresh', 1, randomData(KiB));
    // two nodes' reconcilers at once, between the two expiries: the idle upload goes once, the fresh one stays
    const between = new Date((idleExpiry + (await expiryOf('upload-fresh'))) / 2);
    await Promise.all([t.app.reconciler.runOnce(between, { sweepStores: false }), t.app.reconciler.runOnce(between, { sweepStores: false })]);
    const left = await staged(t.app);
    assert.deepEqual([left.uploads, left.chunks, left.objects.length], [1, 1, 1]);
    assertError(await merge(t.http, { identifier: 'upload-idle', filename: 'disk.img' }), 404, 'fail to find the file path');
    assert.equal((await merge(t.http, { identifier: 'upload-fresh', filename: 'disk.img' })).status, 200);
  });

  it('on its own timer (reconcile_interval), with no request: the chunks go once the expiry has passed', async function () {
    t = await startTestApp('[glint]\nreconcile_interval = 1\n[edgegallery]\nchunk_upload_expiry = 1\n');
    await postChunk(t.http, 'upload-timer', 1, randomData(KiB));
    assert.equal((await staged(t.app)).chunks, 1);
    const deadline = Date.now() + 15_000;
    while ((await staged(t.app)).uploads > 0 && Date.now() < deadline) await sleep(200);
    await assertNothingStaged(t.app);
  });

  it('a running merge keeps its upload past the expiry; a merge whose node died (no renewal) expires', async function () {
    t = await startTestApp('', {}, { startWorkers: false });
    const logger = createLogger({ silent: true });
    const ingest = new IngestPipeline({ images: t.app.catalog.images, limits: t.config.limits, logger });
    let received = 0;
    // a store that takes its time: longer than three expiries
    const slowFiles: FileStorer = {
      async storeFile(_context, request: StoreFileRequest): Promise<StoredFile> {
        for await (const piece of request.source) {
          received += (piece as Buffer).length;
          await sleep(250);
        }
        return { record: { imageId: 'x', uploadTime: new Date(), fileName: request.fileName, userId: '', storageMedium: '', priority: '', requestIdCheck: null, requestIdCompress: null, slimRefused: false }, checkStatus: 0, checkMessage: '' };
      },
    };
    const service = new ChunkedUploadService({ uploads: t.app.catalog.chunkedUploads, stores: t.app.stores, ingest, files: slowFiles, logger, expiryMs: 600, acceptsPriority: () => true });
    const context = unauthenticatedContext('req-expiry');
    for (let index = 1; index <= 8; index++) {
      await service.receiveChunk(context, { fields: { identifier: 'upload-slow' }, partName: `${index}.part`, source: streamOf(randomData(KiB)) });
    }
    const merging = service.merge(context, { identifier: 'upload-slow', fileName: 'disk.img', userId: '', priority: '' });
    let swept = 0;
    for (let i = 0; i < 10; i++) {
      await sleep(200);
      swept += await service.sweepExpired();
    }
    await merging;
    assert.equal(swept, 0, 'the sweep left the merging upload alone');
    assert.equal(received, 8 * KiB);
    await assertNothingStaged(t.app);

    // a node claimed a merge and died: nothing renews it
    await service.receiveChunk(context, { fields: { identifier: 'upload-dead' }, partName: '1.part', source: streamOf(randomData(KiB)) });
    const now = new Date();
    assert.ok(await t.app.catalog.chunkedUploads.claimMerge({ surface: EDGEGALLERY_UPLOADS, clientKey: 'upload-dead' }, new Date(now.getTime() + 600), now));
    assert.equal(await service.sweepExpired(new Date(now.getTime() + 601)), 1);
    await assertNothingStaged(t.app);
  });
});

function streamOf(data: Buffer): Readable {
  return Readable.from([data]);
}
