import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { startTestApp, type TestApp } from '../../support/app';
import {
  fakeQemuImg,
  finishedCheck,
  HEALTHY_VIRTUAL,
  imageOpsIni,
  type ImageOpsImages,
  makeImageOpsImages,
  pollUntil,
  post,
  status,
  UUID1,
  uploadImage,
} from './support';

/**
 * imageops check, checklist items 1–15 (../shared/spec/imageops.md §8), with real qemu-img on a
 * filesystem store. Item 14's slow qemu-img and item 6's are real qemu-img behind a sleep.
 */
describe('imageops check (checklist 1–15)', function () {
  this.timeout(60_000);
  let images: ImageOpsImages;
  let app: TestApp;
  let healthyId: string;

  before(async () => {
    images = makeImageOpsImages();
    app = await startTestApp(imageOpsIni());
    healthyId = await uploadImage(app.http, images.healthy, 'qcow2');
  });
  after(() => app?.close());

  async function checkToEnd(imageId: string): Promise<Record<string, unknown>> {
    const started = await post(app.http, 'check', { inputImageName: imageId });
    assert.equal(started.status, 200, started.text);
    const seen = await pollUntil(app.http, 'check', started.body.requestId as string, finishedCheck);
    return seen[seen.length - 1];
  }

  it('item 1: POST check of an existing image answers 200 {status 0, Check In Progress, requestId}', async () => {
    const res = await post(app.http, 'check', { inputImageName: healthyId });
    assert.equal(res.status, 200);
    assert.match(res.type, /^application\/json/);
    assert.deepEqual(Object.keys(res.body).sort(), ['msg', 'requestId', 'status']);
    assert.equal(res.body.status, 0);
    assert.equal(res.body.msg, 'Check In Progress');
  });

  it('item 2: the requestId is a version 1 UUID, different each time', async () => {
    const a = await post(app.http, 'check', { inputImageName: healthyId });
    const b = await post(app.http, 'check', { inputImageName: healthyId });
    assert.match(a.body.requestId as string, UUID1);
    assert.match(b.body.requestId as string, UUID1);
    assert.notEqual(a.body.requestId, b.body.requestId);
  });

  it('item 3: POST check without inputImageName is 400 with the bare text "Lacking inputImageName in request body."', async () => {
    for (const body of [{}, { inputImageName: '' }, { other: 'x' }]) {
      const res = await post(app.http, 'check', body);
      assert.equal(res.status, 400);
      assert.match(res.type, /^text\/plain/);
      assert.equal(res.text, 'Lacking inputImageName in request body.');
    }
  });

  it('item 4: POST check of an image glint does not hold is 400 "Given image <name> is not exist."; paths are invalid', async () => {
    const missing = '0b7e1c3a-9f3e-4d7c-8a55-000000000000';
    const res = await post(app.http, 'check', { inputImageName: missing });
    assert.equal(res.status, 400);
    assert.equal(res.text, `Given image ${missing} is not exist.`);
    const unknownName = await post(app.http, 'check', { inputImageName: 'ubuntu.qcow2' });
    assert.equal(unknownName.text, 'Given image ubuntu.qcow2 is not exist.');
    for (const name of ['/etc/passwd', '../images/x', 'a\\b', 'a\u0000b', '..']) {
      const invalid = await post(app.http, 'check', { inputImageName: name });
      assert.equal(invalid.status, 400, name);
      assert.equal(invalid.text, 'inputImageName is invalid');
    }
    const malformed = await post(app.http, 'check', '{"inputImageName": ');
    assert.equal(malformed.status, 400);
    assert.match(malformed.type, /^text\/plain/);
  });

  it('item 5: GET check of an unknown id is 200 {status 3, "Check failed, nonexistent request ID", checkInfo {}}', async () => {
    for (const id of ['ec6ab748-2a6d-11ec-a684-0242ac110002', 'not-a-uuid', '..']) {
      assert.deepEqual(await status(app.http, 'check', id), { status: 3, msg: 'Check failed, nonexistent request ID', checkInfo: {} });
    }
  });

  it('item 6: GET check while it runs is status 4 "Check in Progress"', async () => {
    const slow = await startTestApp(imageOpsIni([`qemu_img = ${fakeQemuImg(app.dir, { delaySeconds: 2 })}`]));
    try {
      const id = await uploadImage(slow.http, images.healthy, 'qcow2');
      const started = await post(slow.http, 'check', { inputImageName: id });
      const running = await status(slow.http, 'check', started.body.requestId as string);
      assert.equal(running.status, 4);
      assert.equal(running.msg, 'Check in Progress');
      const seen = await pollUntil(slow.http, 'check', started.body.requestId as string, finishedCheck);
      assert.equal(seen[seen.length - 1].status, 0);
    } finally {
      await slow.close();
    }
  });

  it('item 7: a healthy qcow2 ends in status 0 "Check Completed, the image is (now) consistent", checkResult 0', async () => {
    const done = await checkToEnd(healthyId);
    assert.equal(done.status, 0);
    assert.equal(done.msg, 'Check Completed, the image is (now) consistent');
    assert.equal((done.checkInfo as { checkResult: number }).checkResult, 0);
  });

  it('item 8: checkInfo.checksum is the lowercase md5 hex of the image', async () => {
    const done = await checkToEnd(healthyId);
    assert.equal((done.checkInfo as { checksum: string }).checksum, createHash('md5').update(images.healthy).digest('hex'));
  });

  it('item 9: imageInfo.filename is a base name', async () => {
    const info = ((await checkToEnd(healthyId)).checkInfo as { imageInfo: Record<string, unknown> }).imageInfo;
    assert.equal(typeof info.filename, 'string');
    assert.ok(!(info.filename as string).includes('/'), String(info.filename));
    assert.equal(info.filename, healthyId);
  });

  it('item 10: imageInfo.format is qcow2 and the qemu-img check fields are strings', async () => {
    const info = ((await checkToEnd(healthyId)).checkInfo as { imageInfo: Record<string, unknown> }).imageInfo;
    assert.equal(info.format, 'qcow2');
    for (const key of ['image-end-offset', 'total-clusters', 'check-errors', 'allocated-clusters']) {
      assert.equal(typeof info[key], 'string', key);
      assert.match(info[key] as string, /^\d+$/, key);
    }
    assert.equal(info['total-clusters'], String(HEALTHY_VIRTUAL / 65536));
  });

  it('item 11: virtual_size is GiB rounded to 3 decimals half-to-even (64 MiB → 0.062), disk_size a string of bytes', async () => {
    const info = ((await checkToEnd(healthyId)).checkInfo as { imageInfo: Record<string, unknown> }).imageInfo;
    assert.equal(info.virtual_size, 0.062);
    assert.equal(typeof info.disk_size, 'string');
    assert.match(info.disk_size as string, /^\d+$/);
    assert.ok(Number(info.disk_size) > 1024 * 1024);
  });

  it('item 12: a raw image ends in status 5 with only format, virtual_size, disk_size, and a checksum', async () => {
    const rawId = await uploadImage(app.http, images.raw, 'raw');
    const done = await checkToEnd(rawId);
    assert.equal(done.status, 5);
    assert.equal(done.msg, 'Check Exiting because of not support this type of image');
    const info = done.checkInfo as { checkResult: number; checksum: string; imageInfo: Record<string, unknown> };
    assert.equal(info.checkResult, 63);
    assert.deepEqual(Object.keys(info.imageInfo).sort(), ['disk_size', 'format', 'virtual_size']);
    assert.equal(info.imageInfo.format, 'raw');
    assert.equal(info.imageInfo.virtual_size, 0.003);
    assert.equal(info.checksum, createHash('md5').update(images.raw).digest('hex'));
  });

  it('item 13: a corrupted qcow2 ends in status 1, one with only leaked clusters in status 2', async () => {
    const corrupt = await checkToEnd(await uploadImage(app.http, images.corrupt, 'qcow2'));
    assert.equal(corrupt.status, 1);
    assert.equal(corrupt.msg, 'Check completed, image is corrupted');
    assert.equal((corrupt.checkInfo as { imageInfo: Record<string, string> }).imageInfo.corruptions, '1');
    const leaks = await checkToEnd(await uploadImage(app.http, images.leaks, 'qcow2'));
    assert.equal(leaks.status, 2);
    assert.equal(leaks.msg, 'Check completed, image has leaked clusters, but is not corrupted');
    assert.equal((leaks.checkInfo as { imageInfo: Record<string, string> }).imageInfo.leaks, '1');
  });

  it('item 14: qemu-img running past the job timeout ends in status 6 "Check Time Out" with checksum error, and is killed', async () => {
    const fake = fakeQemuImg(app.dir, { delaySeconds: 30 });
    const slow = await startTestApp(imageOpsIni(['job_timeout = 1', `qemu_img = ${fake}`]));
    try {
      const id = await uploadImage(slow.http, images.healthy, 'qcow2');
      const started = await post(slow.http, 'check', { inputImageName: id });
      const seen = await pollUntil(slow.http, 'check', started.body.requestId as string, finishedCheck, 15);
      const done = seen[seen.length - 1];
      assert.equal(done.status, 6);
      assert.equal(done.msg, 'Check Time Out');
      assert.equal((done.checkInfo as { checksum: string }).checksum, 'error');
      assert.equal((done.checkInfo as { checkResult: number }).checkResult, 100);
      assert.deepEqual(processesRunning(fake), [], 'qemu-img outlived its job');
      assert.deepEqual(readdirSync(path.join(slow.dir, 'imageops-tmp')), [], 'scratch left behind');
    } finally {
      await slow.close();
    }
  });

  it('item 15: status 0/1/2/5 never shows before the checksum is there', async () => {
    const ids = [healthyId, await uploadImage(app.http, images.raw, 'raw'), await uploadImage(app.http, images.leaks, 'qcow2')];
    for (const id of ids) {
      const started = await post(app.http, 'check', { inputImageName: id });
      const seen = await pollUntil(app.http, 'check', started.body.requestId as string, finishedCheck);
      for (const answer of seen) {
        const info = answer.checkInfo as { checksum?: string | null };
        if ([0, 1, 2, 5].includes(answer.status as number)) assert.match(String(info.checksum), /^[0-9a-f]{32}$/, JSON.stringify(answer));
        else assert.equal(answer.status, 4, JSON.stringify(answer));
      }
    }
  });
});

/** Pids whose command line mentions `program` (Linux /proc). */
function processesRunning(program: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(program)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
