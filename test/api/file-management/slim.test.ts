import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { TestApp } from '../../support/app';
import { forEachStore, type StoreVariant } from '../glance-v2/support/harness';
import { fakeQemuImg, makeImageOpsImages, type ImageOpsImages } from '../imageops/support';
import { assertError, call, leftovers, md5, uploaded, waitForDetails , type Details } from './support';

const SLIMMING = 'The image file is being slimmed. No need to slim again.';
const SLIMMED = 'The image file has already been slimmed. No need to slim again. Pls request to check directly';

/**
 * Slim (checklist items 15, 23, 30–35 of edgegallery-filesystem.md §13): real qemu-img compress
 * and re-check jobs; qemu-img is slowed by a second (a stand-in that sleeps, then runs the real
 * one) so the "slimming" state can be seen, or made to fail its convert.
 */
forEachStore('EdgeGallery slim: POST /image-management/v1/images/{id}/action/slim', (variant: StoreVariant) => {
  let app: TestApp;
  let failing: TestApp;
  let images: ImageOpsImages;
  let tools: string;
  const imageOps = (qemu: string, extra = '') => `[imageops]\ntemp_dir = {dir}/imageops-tmp\nmin_free_space_percent = 0\nqemu_img = ${qemu}\n${extra}`;
  before(async function () {
    this.timeout(120_000);
    images = makeImageOpsImages();
    tools = mkdtempSync(path.join(tmpdir(), 'glint-eg-slim-'));
    app = await variant.start({ sections: imageOps(fakeQemuImg(tools, { delaySeconds: 1 })) });
    failing = await variant.start({ sections: imageOps(fakeQemuImg(tools, { failConvert: true })) });
  });
  after(async () => {
    await app?.close();
    await failing?.close();
    rmSync(tools, { recursive: true, force: true });
  });

  it('30, 31, 35, 15, 23, 32: slim → compress in progress and slimStatus 1; again → being slimmed; then 2 with the slimmed md5 and compressed filename; download serves the slimmed bytes under the original name; again → already slimmed', async function () {
    this.timeout(120_000);
    const reply = await uploaded(app.http, 'slim.qcow2', images.large);
    const id = reply.imageId as string;
    await waitForDetails(app.http, id, (d) => d.checkStatusResponse.status !== 4);
    const started = await call(app.http, 'post', `/images/${id}/action/slim`);
    assert.deepEqual([started.status, started.text], [200, 'compress in progress']);
    assert.match(started.headers['content-type'], /^text\/plain/);
    const running = (await call(app.http, 'get', `/images/${id}`)).json as Details;
    assert.equal(running.slimStatus, 1);
    const again = await call(app.http, 'post', `/images/${id}/action/slim`);
    assert.deepEqual([again.status, again.text], [200, SLIMMING]);

    const done = await waitForDetails(app.http, id, (d) => d.slimStatus !== 1, 100_000);
    assert.equal(done.slimStatus, 2, JSON.stringify(done));
    assert.equal(done.compressInfo.compressStatus, 0);
    assert.equal(done.compressInfo.compressRate, 1);
    assert.equal(done.checkStatusResponse.status, 0);
    assert.equal(done.checkStatusResponse.checkInfo.imageInfo.filename, `compressed${id}slim.qcow2`);
    const download = await call(app.http, 'get', `/images/${id}/action/download`);
    assert.equal(download.status, 200);
    assert.equal(download.headers['content-disposition'], 'attachment; filename=slim.qcow2');
    assert.ok(!download.bytes.equals(images.large), 'the slimmed bytes differ from the original');
    assert.ok(download.bytes.length < images.large.length, 'compressed is smaller');
    assert.equal(done.checkStatusResponse.checkInfo.checksum, md5(download.bytes));
    assert.equal(download.bytes.subarray(0, 4).toString('latin1'), 'QFI\xfb', 'still a qcow2');
    // the original stays as it was, in Glance
    const original = await app.http.get(`/v2/images/${id}`);
    assert.equal(original.body.checksum, md5(images.large));

    const third = await call(app.http, 'post', `/images/${id}/action/slim`);
    assert.deepEqual([third.status, third.text], [200, SLIMMED]);

    // delete removes the slimmed output image too
    const before = await leftovers(app, variant.storeId);
    assert.equal((await call(app.http, 'delete', `/images/${id}`)).text, 'delete success');
    const after = await leftovers(app, variant.storeId);
    assert.equal(before.images.length - after.images.length, 2, 'the image and its slimmed output are gone');
    assert.equal(before.keys.length - after.keys.length, 2, 'both objects are gone');
  });

  it('33: an image whose check says unsupported type (status 5) → 400 (decision 1) with upstream\'s message, and slimStatus 3', async function () {
    this.timeout(60_000);
    const reply = await uploaded(app.http, 'plain.img', images.raw);
    const id = reply.imageId as string;
    const checked = await waitForDetails(app.http, id, (d) => d.checkStatusResponse.status !== 4);
    assert.equal(checked.checkStatusResponse.status, 5);
    assertError(await call(app.http, 'post', `/images/${id}/action/slim`), 400, 'This image cannot be slimmed because the type of image is not supported.');
    assert.equal(((await call(app.http, 'get', `/images/${id}`)).json as Details).slimStatus, 3);
  });

  it('34: a compress that fails → slimStatus 3 with the compress status in compressInfo; the original is intact and downloadable', async function () {
    this.timeout(60_000);
    const reply = await uploaded(failing.http, 'fails.qcow2', images.healthy);
    const id = reply.imageId as string;
    await waitForDetails(failing.http, id, (d) => d.checkStatusResponse.status !== 4);
    const started = await call(failing.http, 'post', `/images/${id}/action/slim`);
    assert.deepEqual([started.status, started.text], [200, 'compress in progress']);
    const done = await waitForDetails(failing.http, id, (d) => d.slimStatus !== 1);
    assert.equal(done.slimStatus, 3);
    assert.ok([2, 3, 4].includes(done.compressInfo.compressStatus), JSON.stringify(done.compressInfo));
    assert.equal(done.compressInfo.compressStatus, 2);
    assert.equal(done.checkStatusResponse.checkInfo.imageInfo.filename, `${id}fails.qcow2`);
    const download = await call(failing.http, 'get', `/images/${id}/action/download`);
    assert.ok(download.bytes.equals(images.healthy), 'the original is served');
  });

  it('slim of an unknown id → 404 "file path doesn\'t exist"', async () => {
    assertError(await call(app.http, 'post', '/images/no-such-id/action/slim'), 404, "file path doesn't exist");
  });
});
