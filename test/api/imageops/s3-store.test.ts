import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startTestApp, type TestApp } from '../../support/app';
import { s3AdminClient, deleteBucket, s3StoreIniLines, startS3Server, type S3TestServer } from '../../support/s3';
import { fakeQemuImg, finishedCheck, finishedCompress, imageOpsIni, type ImageOpsImages, makeImageOpsImages, pollUntil, post, uploadImage } from './support';

/**
 * The same jobs on an S3 store (s3rver): qemu-img reads a streamed copy in the temp directory,
 * which is gone once the job ends — after a success, a failure and a time-out alike — and the
 * compress output lands in the S3 store as a new image.
 */
describe('imageops on an S3 store', function () {
  this.timeout(90_000);
  let images: ImageOpsImages;
  let server: S3TestServer;
  let toolDir: string;
  const bucket = `glint-imageops-${process.pid}`;

  before(async () => {
    images = makeImageOpsImages();
    server = await startS3Server();
    toolDir = mkdtempSync(path.join(tmpdir(), 'glint-imageops-tools-'));
  });
  after(async () => {
    rmSync(toolDir, { recursive: true, force: true });
    const admin = s3AdminClient(server);
    await deleteBucket(admin, bucket).catch(() => undefined);
    admin.destroy();
    await server.stop();
  });

  function s3App(extra: string[] = []): Promise<TestApp> {
    const store = ['[glance_store]', 'default_store = s3', ...s3StoreIniLines(server, bucket)];
    return startTestApp(imageOpsIni(extra, store));
  }

  it('checks qcow2 images (consistent, corrupt, leaks) through a temp copy that is removed afterwards', async () => {
    const app = await s3App();
    try {
      const expected: Array<[Buffer, number]> = [
        [images.healthy, 0],
        [images.corrupt, 1],
        [images.leaks, 2],
      ];
      for (const [data, statusCode] of expected) {
        const id = await uploadImage(app.http, data, 'qcow2');
        const started = await post(app.http, 'check', { inputImageName: id });
        const seen = await pollUntil(app.http, 'check', started.body.requestId as string, finishedCheck);
        const done = seen[seen.length - 1];
        assert.equal(done.status, statusCode, JSON.stringify(done));
        const info = done.checkInfo as { checksum: string; imageInfo: Record<string, unknown> };
        assert.equal(info.checksum, createHash('md5').update(data).digest('hex'));
        assert.equal(info.imageInfo.filename, id);
      }
      assert.deepEqual(readdirSync(path.join(app.dir, 'imageops-tmp')), []);
    } finally {
      await app.close();
    }
  });

  it('compresses into a new image in the S3 store, leaving no temp file', async () => {
    const app = await s3App();
    try {
      const id = await uploadImage(app.http, images.large, 'qcow2');
      const started = await post(app.http, 'compress', { inputImageName: id, outputImageName: 's3-compressed' });
      const seen = await pollUntil(app.http, 'compress', started.body.requestId as string, finishedCompress, 60);
      assert.deepEqual(seen[seen.length - 1], { status: 0, msg: 'Compress Completed', rate: 1 });
      const list = await app.http.get('/v2/images').query({ name: 's3-compressed' });
      const [output] = list.body.images as Array<Record<string, unknown>>;
      assert.equal(output.status, 'active');
      assert.equal(output.disk_format, 'qcow2');
      assert.ok((output.size as number) < images.large.length, `output ${String(output.size)} bytes`);
      assert.deepEqual(readdirSync(path.join(app.dir, 'imageops-tmp')), []);
    } finally {
      await app.close();
    }
  });

  it('a check timing out while qemu-img reads the temp copy removes the copy', async () => {
    const app = await s3App(['job_timeout = 1', `qemu_img = ${fakeQemuImg(toolDir, { delaySeconds: 30 })}`]);
    try {
      const id = await uploadImage(app.http, images.healthy, 'qcow2');
      const started = await post(app.http, 'check', { inputImageName: id });
      const seen = await pollUntil(app.http, 'check', started.body.requestId as string, finishedCheck, 15);
      assert.equal(seen[seen.length - 1].status, 6);
      assert.deepEqual(readdirSync(path.join(app.dir, 'imageops-tmp')), []);
    } finally {
      await app.close();
    }
  });
});
