import { strict as assert } from 'node:assert';
import { startTestApp, type TestApp } from '../../support/app';
import { loadConfig } from '../../../src/config/load';
import { makeDiskImages, type DiskImages } from '../../support/disk-images';
import { storeKeys } from '../glance-v2/support/harness';
import { assertError, assertNothingLeft, call, leftovers, uploaded, uploadFile } from './support';

const MULTI_STORE = [
  '[DEFAULT]',
  'enabled_backends = fast:file, cold:file',
  '[glance_store]',
  'default_backend = fast',
  '[fast]',
  'filesystem_store_datadir = {dir}/fast',
  '[cold]',
  'filesystem_store_datadir = {dir}/cold',
  '[edgegallery]',
  'priority_stores = A:cold, 1:cold, 0:fast',
  '',
].join('\n');

/** `priority` → store (`[edgegallery] priority_stores`), with the documented defaults. */
describe('EdgeGallery priority → store mapping', function () {
  let app: TestApp;
  let disks: DiskImages;
  before(async function () {
    this.timeout(60_000);
    disks = makeDiskImages();
    app = await startTestApp(MULTI_STORE);
  });
  after(() => app?.close());

  it('a mapped priority writes to its store and reports the store id as storageMedium; 0, empty and unmapped values use the default store', async () => {
    const cold = await uploaded(app.http, 'cold.qcow2', disks.good.qcow2, { priority: '1' });
    assert.equal(cold.storageMedium, 'cold');
    assert.ok((await storeKeys(app.app, 'cold')).includes(cold.imageId as string));
    const mappedA = await uploaded(app.http, 'a.qcow2', disks.good.qcow2, { priority: 'A' });
    assert.equal(mappedA.storageMedium, 'cold', 'A is refused only while unmapped');
    for (const priority of ['0', '', '7']) {
      const reply = await uploaded(app.http, 'fast.qcow2', disks.good.qcow2, { priority });
      assert.equal(reply.storageMedium, '/usr/app/vmImage/');
      assert.ok((await storeKeys(app.app, 'fast')).includes(reply.imageId as string));
    }
    const image = await app.http.get(`/v2/images/${cold.imageId as string}`);
    assert.deepEqual(image.body.stores, 'cold');
  });

  it('B stays refused unless mapped; a priority sent after the file that names another store is refused, nothing left', async () => {
    const before = { fast: await leftovers(app, 'fast'), cold: await leftovers(app, 'cold') };
    assertError(await uploadFile(app.http, 'b.qcow2', disks.good.qcow2, { priority: 'B' }), 400, 'fail to upload package');
    const late = await call(app.http, 'post', '/images', { parts: [{ name: 'file', value: disks.good.qcow2, fileName: 'late.qcow2' }, { name: 'priority', value: '1' }] });
    assertError(late, 400, 'fail to upload package');
    await assertNothingLeft(app, 'fast', before.fast);
    await assertNothingLeft(app, 'cold', before.cold);
  });

  it('a mapping to a store that is not configured stops start-up', () => {
    assert.throws(
      () => loadConfig({ file: null, env: { GLINT_EDGEGALLERY_PRIORITY_STORES: '1:nowhere' }, warn: () => {} }),
      /priority_stores: store "nowhere" is not configured/,
    );
  });
});
