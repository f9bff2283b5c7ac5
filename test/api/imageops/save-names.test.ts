import { strict as assert } from 'node:assert';
import { startTestApp, type TestApp } from '../../support/app';
import { uploaded } from '../file-management/support';
import { finishedCheck, finishedCompress, imageOpsIni, makeImageOpsImages, pollUntil, post } from './support';

/**
 * Decision 2: `inputImageName` resolves an EdgeGallery save name `<imageId><fileName>` (the image
 * uploaded through the file-management surface, its fileName as that surface recorded it), or a
 * Glance image id — and nothing else.
 */
describe('imageops: EdgeGallery save names', function () {
  this.timeout(60_000);
  let app: TestApp;
  let imageId: string;

  before(async () => {
    app = await startTestApp(imageOpsIni());
    const reply = await uploaded(app.http, 'ubuntu-disk.qcow2', makeImageOpsImages().healthy);
    imageId = reply.imageId as string;
  });
  after(() => app?.close());

  it('checks and compresses the image a save name names', async () => {
    const check = await post(app.http, 'check', { inputImageName: `${imageId}ubuntu-disk.qcow2` });
    assert.equal(check.status, 200, check.text);
    const checked = await pollUntil(app.http, 'check', check.body.requestId as string, finishedCheck);
    assert.equal(checked[checked.length - 1].status, 0);
    const compress = await post(app.http, 'compress', { inputImageName: `${imageId}ubuntu-disk.qcow2`, outputImageName: `compressed${imageId}ubuntu-disk.qcow2` });
    assert.equal(compress.status, 200, compress.text);
    const compressed = await pollUntil(app.http, 'compress', compress.body.requestId as string, finishedCompress);
    assert.equal(compressed[compressed.length - 1].status, 0);
  });

  it('refuses a save name whose fileName is not the recorded one, and a name that is neither', async () => {
    for (const name of [`${imageId}other.qcow2`, `${imageId}UBUNTU-DISK.qcow2`, `${imageId.slice(0, 35)}ubuntu-disk.qcow2`, 'ubuntu-disk.qcow2']) {
      const res = await post(app.http, 'check', { inputImageName: name });
      assert.equal(res.status, 400, name);
      assert.equal(res.text, `Given image ${name} is not exist.`);
    }
    const traversal = await post(app.http, 'check', { inputImageName: `${imageId}../ubuntu-disk.qcow2` });
    assert.equal(traversal.text, 'inputImageName is invalid');
  });
});
