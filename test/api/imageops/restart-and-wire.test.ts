import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { unauthenticatedContext } from '../../../src/domain/context';
import { startTestApp, type TestApp } from '../../support/app';
import { BASE, fakeQemuImg, finishedCheck, finishedCompress, imageOpsIni, type ImageOpsImages, makeImageOpsImages, pollUntil, post, status, uploadImage } from './support';

/**
 * Checklist items 25 (status queries survive a restart: the jobs live in the catalog) and 26
 * (JSON successes, bare-text errors), and the service's `recheck` option EdgeGallery's slim uses.
 */
describe('imageops: restarts, wire format, recheck (checklist 25–26)', function () {
  this.timeout(90_000);
  let images: ImageOpsImages;
  let shared: string;

  before(() => {
    images = makeImageOpsImages();
    shared = mkdtempSync(path.join(tmpdir(), 'glint-imageops-restart-'));
  });
  after(() => rmSync(shared, { recursive: true, force: true }));

  /** A glint on a SQLite file and a filesystem store both under `shared`, so a second one sees the first's catalog. */
  function startOnSharedCatalog(startWorkers: boolean): Promise<TestApp> {
    const ini = imageOpsIni([], ['[glance_store]', `filesystem_store_datadir = ${shared}/images`]);
    return startTestApp(ini, { GLINT_DATABASE_CONNECTION: `sqlite:///${shared}/glint.db` }, { startWorkers });
  }

  it('item 25: status queries answer after a restart for ids issued before it, and a job queued before it runs after it', async () => {
    const first = await startOnSharedCatalog(true);
    let checkId: string;
    let compressId: string;
    let queuedId: string;
    let imageId: string;
    try {
      imageId = await uploadImage(first.http, images.leaks, 'qcow2');
      checkId = (await post(first.http, 'check', { inputImageName: imageId })).body.requestId as string;
      compressId = (await post(first.http, 'compress', { inputImageName: imageId, outputImageName: 'restart-out' })).body.requestId as string;
      await pollUntil(first.http, 'check', checkId, finishedCheck);
      await pollUntil(first.http, 'compress', compressId, finishedCompress);
    } finally {
      await first.close();
    }
    // a node that takes requests but runs no jobs: the check waits in the catalog
    const idle = await startOnSharedCatalog(false);
    try {
      queuedId = (await post(idle.http, 'check', { inputImageName: imageId })).body.requestId as string;
      assert.equal((await status(idle.http, 'check', queuedId)).status, 4);
    } finally {
      await idle.close();
    }
    const second = await startOnSharedCatalog(true);
    try {
      const check = await status(second.http, 'check', checkId);
      assert.equal(check.status, 2);
      assert.equal(check.msg, 'Check completed, image has leaked clusters, but is not corrupted');
      assert.deepEqual(await status(second.http, 'compress', compressId), { status: 0, msg: 'Compress Completed', rate: 1 });
      const seen = await pollUntil(second.http, 'check', queuedId, finishedCheck);
      assert.equal(seen[seen.length - 1].status, 2);
    } finally {
      await second.close();
    }
  });

  it('item 26: successes are application/json, errors the bare message as text (not JSON), unknown routes and methods too', async () => {
    const app = await startTestApp(imageOpsIni());
    try {
      const id = await uploadImage(app.http, images.healthy, 'qcow2');
      const ok = await post(app.http, 'check', { inputImageName: id });
      assert.match(ok.type, /^application\/json/);
      const getOk = await app.http.get(`${BASE}/check/${ok.body.requestId as string}`);
      assert.match(String(getOk.headers['content-type']), /^application\/json/);
      assert.equal(getOk.headers['access-control-allow-origin'], '*');
      const errors = [
        await app.http.post(`${BASE}/check`).send({}),
        await app.http.post(`${BASE}/compress`).type('application/json').send('not json'),
        await app.http.post(`${BASE}/compress`).type('application/json').send('[1]'),
        await app.http.post(`${BASE}/check`).send({ inputImageName: 42 }),
        await app.http.get(`${BASE}/nothing`),
        await app.http.delete(`${BASE}/check/x`),
      ];
      assert.deepEqual(
        errors.map((res) => res.status),
        [400, 400, 400, 400, 404, 405],
      );
      for (const res of errors) {
        assert.match(String(res.headers['content-type']), /^text\/plain/);
        assert.ok(res.text.length > 0);
        assert.throws(() => JSON.parse(res.text) as unknown, SyntaxError, res.text);
      }
      assert.equal(errors[3].text, 'inputImageName is invalid');
      assert.equal(errors[5].headers.allow, 'GET');
      // a malformed escape in the requestId names no job: the unknown-id answers, never a 500
      const malformedCheck = await app.http.get(`${BASE}/check/%zz`);
      assert.deepEqual([malformedCheck.status, malformedCheck.body], [200, { status: 3, msg: 'Check failed, nonexistent request ID', checkInfo: {} }]);
      const malformedCompress = await app.http.get(`${BASE}/compress/%ff%fe`);
      assert.deepEqual([malformedCompress.status, malformedCompress.body], [200, { status: 2, msg: 'Compress Failed, nonexistent request ID', rate: 0 }]);
    } finally {
      await app.close();
    }
  });

  it('at most max_concurrent_jobs run at once on a process; the others wait queued and report in progress', async () => {
    const slowTool = fakeQemuImg(shared, { delaySeconds: 1 });
    const app = await startTestApp(imageOpsIni(['max_concurrent_jobs = 1', `qemu_img = ${slowTool}`]));
    try {
      const id = await uploadImage(app.http, images.healthy, 'qcow2');
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await post(app.http, 'check', { inputImageName: id })).body.requestId as string);
      let most = 0;
      let waiting = 0;
      for (;;) {
        const tasks = await Promise.all(ids.map((requestId) => app.app.catalog.tasks.get(requestId)));
        most = Math.max(most, tasks.filter((task) => task?.status === 'processing').length);
        waiting = Math.max(waiting, tasks.filter((task) => task?.status === 'pending').length);
        for (const requestId of ids) {
          const answer = await status(app.http, 'check', requestId);
          assert.ok(answer.status === 4 || answer.status === 0, JSON.stringify(answer));
        }
        if (tasks.every((task) => task?.status === 'success')) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(most, 1);
      assert.equal(waiting, 2, 'two checks waited in the queue');
    } finally {
      await app.close();
    }
  });

  it('a compress run again after its output was stored (its node died before the final status) reuses that output', async () => {
    const app = await startTestApp(imageOpsIni());
    try {
      const id = await uploadImage(app.http, images.healthy, 'qcow2');
      const requestId = (await post(app.http, 'compress', { inputImageName: id, outputImageName: 'rerun-out' })).body.requestId as string;
      await pollUntil(app.http, 'compress', requestId, finishedCompress);
      const first = await app.app.services.imageOps.compressReport(requestId);
      // what a node dying between the output's commit and the job's final status leaves: the job claimable again
      assert.ok(await app.app.catalog.tasks.update(requestId, { status: 'pending', result: null }, 'success'));
      const seen = await pollUntil(app.http, 'compress', requestId, finishedCompress);
      assert.deepEqual(seen[seen.length - 1], { status: 0, msg: 'Compress Completed', rate: 1 });
      assert.equal((await app.app.services.imageOps.compressReport(requestId)).outputImageId, first.outputImageId);
      const named = await app.http.get('/v2/images').query({ name: 'rerun-out' });
      assert.equal((named.body.images as unknown[]).length, 1);
    } finally {
      await app.close();
    }
  });

  it('compress with recheck (EdgeGallery slim) queues a check of the output and reports its requestId', async () => {
    const app = await startTestApp(imageOpsIni());
    try {
      const id = await uploadImage(app.http, images.healthy, 'qcow2');
      const { imageOps } = app.app.services;
      const started = await imageOps.startCompress(unauthenticatedContext('test'), id, 'slimmed', { recheck: true });
      assert.equal(started.status, 0);
      await pollUntil(app.http, 'compress', started.requestId, finishedCompress);
      const report = await imageOps.compressReport(started.requestId);
      assert.equal(report.status, 0);
      assert.equal(report.sourceImageId, id);
      assert.ok(report.outputImageId && report.recheckRequestId);
      const seen = await pollUntil(app.http, 'check', report.recheckRequestId, finishedCheck);
      assert.equal(seen[seen.length - 1].status, 0);
      assert.equal((await imageOps.checkReport(report.recheckRequestId)).imageId, report.outputImageId);
    } finally {
      await app.close();
    }
  });
});
