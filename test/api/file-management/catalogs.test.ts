import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { TestApp } from '../../support/app';
import { forEachCatalog } from '../algoplatform/support';
import { fakeQemuImg, makeImageOpsImages, type ImageOpsImages } from '../imageops/support';
import { call, type Details, uploaded, waitForDetails } from './support';

/**
 * The file records on both catalogs (SQLite, MariaDB): the namespaced attributes round-trip, the
 * list, deletes from either surface, and the slim claim — concurrent slims of one image start one
 * compress, the rest are told it is being slimmed.
 */
forEachCatalog('EdgeGallery file records', (variant) => {
  let app: TestApp;
  let images: ImageOpsImages;
  let tools: string;
  before(async function () {
    this.timeout(60_000);
    images = makeImageOpsImages();
    tools = mkdtempSync(path.join(tmpdir(), 'glint-eg-catalog-'));
    const qemu = fakeQemuImg(tools, { delaySeconds: 1 });
    app = await variant.start(`[imageops]\ntemp_dir = {dir}/imageops-tmp\nmin_free_space_percent = 0\nqemu_img = ${qemu}\n`);
  });
  after(() => rmSync(tools, { recursive: true, force: true }));

  it('upload → query → list → delete (EdgeGallery and Glance) keep the records and the catalog in step', async () => {
    const a = await uploaded(app.http, 'a.qcow2', images.healthy, { userId: 'ü-user', priority: '0' });
    const b = await uploaded(app.http, 'b.img', images.raw, { userId: 'u2', priority: '' });
    const query = (await call(app.http, 'get', `/images/${a.imageId as string}`)).json as Details;
    assert.deepEqual([query.fileName, query.userId, query.storageMedium], ['a.qcow2', 'ü-user', '/usr/app/vmImage/']);
    const list = (await call(app.http, 'get', '/images')).json as Details[];
    assert.deepEqual(list.map((item) => item.imageId).filter((id) => id === a.imageId || id === b.imageId), [a.imageId, b.imageId], 'oldest first');
    assert.equal((await app.http.delete(`/v2/images/${b.imageId as string}`)).status, 204);
    assert.equal((await call(app.http, 'delete', `/images/${a.imageId as string}`)).text, 'delete success');
    const after = (await call(app.http, 'get', '/images')).json as Details[];
    assert.ok(!after.some((item) => item.imageId === a.imageId || item.imageId === b.imageId));
  });

  it('five concurrent slims of one image: one compress in progress, four being slimmed, one output image', async function () {
    this.timeout(90_000);
    const reply = await uploaded(app.http, 'race.qcow2', images.healthy);
    const id = reply.imageId as string;
    await waitForDetails(app.http, id, (d) => d.checkStatusResponse.status !== 4);
    const answers = await Promise.all(Array.from({ length: 5 }, () => call(app.http, 'post', `/images/${id}/action/slim`)));
    const texts = answers.map((answer) => answer.text).sort();
    assert.deepEqual(texts, ['The image file is being slimmed. No need to slim again.', ...Array(3).fill('The image file is being slimmed. No need to slim again.'), 'compress in progress'].sort());
    const done = await waitForDetails(app.http, id, (d) => d.slimStatus !== 1, 80_000);
    assert.equal(done.slimStatus, 2);
    const outputs = await app.http.get(`/v2/images?name=compressed${id}race.qcow2`);
    assert.equal((outputs.body.images as unknown[]).length, 1, 'one compress ran');
  });
});
