import assert from 'node:assert/strict';
import * as path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ImageStore } from '../../src/index';
import { createLogger } from '../../src/lib/logger';
import { startTestApp, type TestApp } from '../support/app';

/**
 * Container images of the image-store library share the catalog with Glance (same SQLite file,
 * same store) but are no Glance disk images: the Glance API neither lists, shows, changes nor
 * deletes them.
 */
describe('image-store records are invisible to the Glance API', () => {
  let t: TestApp;
  let store: ImageStore;
  let containerId: string;
  let glanceId: string;
  let shared: string;

  before(async () => {
    shared = mkdtempSync(path.join(tmpdir(), 'glint-shared-'));
    const database = `sqlite:///${path.join(shared, 'glint.db')}`;
    t = await startTestApp(`[glance_store]\nfilesystem_store_datadir = {dir}/images\n`, { GLINT_DATABASE_CONNECTION: database });
    const configFile = path.join(t.dir, 'image-store.conf');
    writeFileSync(configFile, `[database]\nconnection = ${database}\n\n[glance_store]\nfilesystem_store_datadir = ${path.join(t.dir, 'images')}\n`);
    store = await ImageStore.open({ configFile, logger: createLogger({ silent: true }) });
    containerId = await store.create({ names: ['busybox:latest'] });
    await store.setBigData(containerId, 'manifest', '{"schemaVersion":2}');
    const created = await t.http.post('/v2/images').send({ name: 'cirros', disk_format: 'qcow2', container_format: 'bare' }).expect(201);
    glanceId = (created.body as { id: string }).id;
  });

  after(async () => {
    await store?.close();
    await t?.close();
    if (shared) rmSync(shared, { recursive: true, force: true });
  });

  it('GET /v2/images lists only Glance images, whatever the filters', async () => {
    for (const query of ['', '?status=active', '?visibility=private', `?id=in:${containerId},${glanceId}`, '?sort=created_at:asc&limit=1000']) {
      const response = await t.http.get(`/v2/images${query}`).expect(200);
      const ids = (response.body as { images: Array<{ id: string }> }).images.map((image) => image.id);
      assert.ok(!ids.includes(containerId), query);
    }
    const all = await t.http.get('/v2/images').expect(200);
    assert.deepEqual((all.body as { images: Array<{ id: string }> }).images.map((image) => image.id), [glanceId]);
  });

  it('shows, changes and deletes none of them: 404 for every route', async () => {
    const base = `/v2/images/${containerId}`;
    await t.http.get(base).expect(404);
    await t.http
      .patch(base)
      .set('Content-Type', 'application/openstack-images-v2.1-json-patch')
      .send(JSON.stringify([{ op: 'replace', path: '/name', value: 'taken' }]))
      .expect(404);
    await t.http.put(`${base}/tags/x`).expect(404);
    await t.http.post(`${base}/members`).send({ member: 'p2' }).expect(404);
    await t.http.post(`${base}/actions/deactivate`).expect(404);
    await t.http.put(`${base}/file`).set('Content-Type', 'application/octet-stream').send(Buffer.from('data')).expect(404);
    await t.http.get(`${base}/file`).expect(404);
    await t.http.delete(base).expect(404);
    const image = await store.get('busybox:latest');
    assert.equal(image.id, containerId);
    assert.equal((await store.bigData(containerId, 'manifest'))?.toString(), '{"schemaVersion":2}');
  });

  it('and the library never sees Glance images', async () => {
    assert.deepEqual((await store.images()).map((image) => image.id), [containerId]);
    assert.equal(await store.exists(glanceId), false);
    await store.delete(glanceId);
    await t.http.get(`/v2/images/${glanceId}`).expect(200);
  });
});
