import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import {
  fakeQemuImg,
  finishedCompress,
  imageOpsIni,
  type ImageOpsImages,
  makeImageOpsImages,
  pollUntil,
  post,
  status,
  UUID1,
  uploadImage,
} from './support';

const OWNER = as('imageops-owner');

/**
 * imageops compress, checklist items 16–24 (../shared/spec/imageops.md §8), with real qemu-img
 * on a filesystem store; the output is a new Glance image (decision 3).
 */
describe('imageops compress (checklist 16–24)', function () {
  this.timeout(90_000);
  let images: ImageOpsImages;
  let app: TestApp;
  let sourceId: string;

  before(async () => {
    images = makeImageOpsImages();
    app = await startTestApp(`${TRUSTED}${imageOpsIni()}`);
    sourceId = await uploadImage(app.http, images.healthy, 'qcow2', 'imageops-source', OWNER);
  });
  after(() => app?.close());

  async function imagesNamed(target: TestApp, name: string): Promise<Array<Record<string, unknown>>> {
    const res = await target.http.get('/v2/images').query({ name }).set(as('ops', 'admin'));
    assert.equal(res.status, 200);
    return res.body.images as Array<Record<string, unknown>>;
  }

  async function download(target: TestApp, id: string): Promise<Buffer> {
    const res = await target.http
      .get(`/v2/images/${id}/file`)
      .set(as('ops', 'admin'))
      .buffer(true)
      .parse((stream, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => callback(null, Buffer.concat(chunks)));
      });
    assert.equal(res.status, 200);
    return res.body as Buffer;
  }

  it('item 16: POST compress with both names answers 200 {status 0, Compress In Progress, requestId}', async () => {
    const res = await post(app.http, 'compress', { inputImageName: sourceId, outputImageName: 'item16-out' });
    assert.equal(res.status, 200);
    assert.deepEqual(Object.keys(res.body).sort(), ['msg', 'requestId', 'status']);
    assert.equal(res.body.status, 0);
    assert.equal(res.body.msg, 'Compress In Progress');
    assert.match(res.body.requestId as string, UUID1);
    await pollUntil(app.http, 'compress', res.body.requestId as string, finishedCompress);
  });

  it('item 17: POST compress without outputImageName is 400 "Lacking outputImageName in request body."', async () => {
    const res = await post(app.http, 'compress', { inputImageName: sourceId });
    assert.equal(res.status, 400);
    assert.match(res.type, /^text\/plain/);
    assert.equal(res.text, 'Lacking outputImageName in request body.');
    const noInput = await post(app.http, 'compress', { outputImageName: 'x' });
    assert.equal(noInput.text, 'Lacking inputImageName in request body.');
    assert.deepEqual(await imagesNamed(app, 'x'), []);
  });

  it('item 18: POST compress of an input glint does not hold is 400 "Image <name> is not exist."', async () => {
    const res = await post(app.http, 'compress', { inputImageName: 'missing.qcow2', outputImageName: 'item18-out' });
    assert.equal(res.status, 400);
    assert.equal(res.text, 'Image missing.qcow2 is not exist.');
    const traversal = await post(app.http, 'compress', { inputImageName: '../../etc/shadow', outputImageName: 'item18-out' });
    assert.equal(traversal.text, 'inputImageName is invalid');
    assert.deepEqual(await imagesNamed(app, 'item18-out'), []);
  });

  it('item 19: without enough free space POST compress says status 1 "No enouth space left", and GET then says 3', async () => {
    const full = await startTestApp(`${TRUSTED}${imageOpsIni(['min_free_space_percent = 100'])}`);
    try {
      const id = await uploadImage(full.http, images.healthy, 'qcow2', 'src', OWNER);
      const res = await post(full.http, 'compress', { inputImageName: id, outputImageName: 'item19-out' });
      assert.equal(res.status, 200);
      assert.equal(res.body.status, 1);
      assert.equal(res.body.msg, 'Compress Exiting because of No enouth space left');
      assert.deepEqual(await status(full.http, 'compress', res.body.requestId as string), {
        status: 3,
        msg: 'Compress Exiting because of No enouth space left',
        rate: 0,
      });
      assert.deepEqual(await imagesNamed(full, 'item19-out'), []);
    } finally {
      await full.close();
    }
  });

  it('item 20: GET compress of an unknown id is 200 {status 2, "Compress Failed, nonexistent request ID", rate 0}', async () => {
    const checkStarted = await post(app.http, 'check', { inputImageName: sourceId });
    for (const id of ['ec6ab748-2a6d-11ec-a684-0242ac110002', 'whatever', checkStarted.body.requestId as string]) {
      assert.deepEqual(await status(app.http, 'compress', id), { status: 2, msg: 'Compress Failed, nonexistent request ID', rate: 0 });
    }
  });

  it('item 21: GET compress during the run is status 1 with 0 ≤ rate ≤ 1, the rate rising as qemu-img converts', async () => {
    const slow = await startTestApp(`${TRUSTED}${imageOpsIni(['convert_rate_limit = 8MB'])}`);
    try {
      const id = await uploadImage(slow.http, images.large, 'qcow2', 'large', OWNER);
      const res = await post(slow.http, 'compress', { inputImageName: id, outputImageName: 'item21-out' });
      const seen = await pollUntil(slow.http, 'compress', res.body.requestId as string, finishedCompress, 60);
      const running = seen.filter((answer) => answer.status === 1);
      assert.ok(running.length > 2, `only ${running.length} answers while running`);
      for (const answer of running) {
        assert.equal(answer.msg, 'Compress In Progress');
        assert.ok((answer.rate as number) >= 0 && (answer.rate as number) <= 1, JSON.stringify(answer));
      }
      assert.ok(running.some((answer) => (answer.rate as number) > 0 && (answer.rate as number) < 1), `no partial rate in ${JSON.stringify(running.map((a) => a.rate))}`);
      assert.deepEqual(seen[seen.length - 1], { status: 0, msg: 'Compress Completed', rate: 1 });
    } finally {
      await slow.close();
    }
  });

  it('item 22: after success GET is {0, Compress Completed, 1} and the output is a new compressed qcow2 image, same owner', async () => {
    const res = await post(app.http, 'compress', { inputImageName: sourceId, outputImageName: 'item22-out' });
    const seen = await pollUntil(app.http, 'compress', res.body.requestId as string, finishedCompress);
    assert.deepEqual(seen[seen.length - 1], { status: 0, msg: 'Compress Completed', rate: 1 });
    const [output] = await imagesNamed(app, 'item22-out');
    assert.ok(output, 'no image named item22-out');
    assert.equal(output.status, 'active');
    assert.equal(output.disk_format, 'qcow2');
    assert.equal(output.container_format, 'bare');
    assert.equal(output.owner, 'imageops-owner');
    const bytes = await download(app, output.id as string);
    assert.equal(output.checksum, createHash('md5').update(bytes).digest('hex'));
    const file = path.join(app.dir, 'item22.qcow2');
    writeFileSync(file, bytes);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output', 'json', file], { encoding: 'utf8' })) as Record<string, unknown>;
    assert.equal(info.format, 'qcow2');
    assert.equal(info['virtual-size'], 64 * 1024 * 1024);
    const check = JSON.parse(execFileSync('qemu-img', ['check', '--output', 'json', file], { encoding: 'utf8' })) as Record<string, number>;
    assert.ok(check['compressed-clusters'] > 0, `no compressed clusters: ${JSON.stringify(check)}`);
    execFileSync('qemu-img', ['convert', '-O', 'raw', file, `${file}.raw`]);
    const disk = readFileSync(`${file}.raw`);
    assert.ok(disk.subarray(0, 1024 * 1024).every((byte) => byte === 0x5a), 'the data written into the source is not in the output');
    assert.ok(disk.subarray(1024 * 1024).every((byte) => byte === 0), 'the rest of the disk is not zero');
    assert.ok(bytes.length < images.healthy.length, `output ${bytes.length} bytes, source ${images.healthy.length}`);
  });

  it('item 23: a failed run is status 2 with rate 0, a timed-out run status 4 "Compress Time Out"; neither leaves an image or a file', async () => {
    const failing = await startTestApp(`${TRUSTED}${imageOpsIni([`qemu_img = ${fakeQemuImg(app.dir, { failConvert: true })}`])}`);
    try {
      const id = await uploadImage(failing.http, images.healthy, 'qcow2', 'src', OWNER);
      const res = await post(failing.http, 'compress', { inputImageName: id, outputImageName: 'item23-failed' });
      const seen = await pollUntil(failing.http, 'compress', res.body.requestId as string, finishedCompress);
      assert.deepEqual(seen[seen.length - 1], { status: 2, msg: 'Compress Failed', rate: 0 });
      assert.deepEqual(await imagesNamed(failing, 'item23-failed'), []);
      assert.deepEqual(readdirSync(path.join(failing.dir, 'imageops-tmp')), []);
    } finally {
      await failing.close();
    }
    const slow = await startTestApp(`${TRUSTED}${imageOpsIni(['job_timeout = 1', `qemu_img = ${fakeQemuImg(app.dir, { delaySeconds: 30 })}`])}`);
    try {
      const id = await uploadImage(slow.http, images.healthy, 'qcow2', 'src', OWNER);
      const res = await post(slow.http, 'compress', { inputImageName: id, outputImageName: 'item23-slow' });
      const seen = await pollUntil(slow.http, 'compress', res.body.requestId as string, finishedCompress, 15);
      assert.deepEqual(seen[seen.length - 1], { status: 4, msg: 'Compress Time Out', rate: 0 });
      assert.deepEqual(await imagesNamed(slow, 'item23-slow'), []);
      assert.deepEqual(readdirSync(path.join(slow.dir, 'imageops-tmp')), []);
    } finally {
      await slow.close();
    }
  });

  it('item 24: the input image is byte-identical before and after compress', async () => {
    const before = await download(app, sourceId);
    const storeFile = readFileSync(path.join(app.dir, 'images', sourceId));
    const res = await post(app.http, 'compress', { inputImageName: sourceId, outputImageName: 'item24-out' });
    await pollUntil(app.http, 'compress', res.body.requestId as string, finishedCompress);
    const after = await download(app, sourceId);
    assert.ok(after.equals(before) && before.equals(images.healthy), 'the source image changed');
    assert.ok(readFileSync(path.join(app.dir, 'images', sourceId)).equals(storeFile), 'the stored file changed');
    const source = await app.http.get(`/v2/images/${sourceId}`).set(OWNER);
    assert.equal(source.body.checksum, createHash('md5').update(images.healthy).digest('hex'));
    assert.equal(source.body.status, 'active');
  });
});
