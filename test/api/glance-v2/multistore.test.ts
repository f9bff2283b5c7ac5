import assert from 'node:assert/strict';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { startS3Server, type S3TestServer } from '../../support/s3';
import {
  activeImage,
  assertBackToQueued,
  assertNoDataFor,
  bytes,
  createImage,
  download,
  forEachMultiStoreDefault,
  getImage,
  md5,
  multiStoreIni,
  RAW_BARE,
  sha512,
  stage,
  storeKeys,
  upload,
  waitForImage,
  type MultiStoreVariant,
} from './support/harness';

const ADMIN = as('projAdmin', 'admin');
const A = as('projA');

forEachMultiStoreDefault('Glance v2: multi-store', (variant: MultiStoreVariant) => {
  const home = variant.storeId;
  const other = variant.otherStoreId;
  let app: TestApp;
  before(async function () {
    app = await variant.start({ sections: TRUSTED });
  });
  after(async function () {
    await app.close();
  });

  const importing = (id: string, body: unknown, headers = A) => app.http.post(`/v2/images/${id}/import`).set(headers).send(body as object);
  const holds = async (storeId: string, id: string) => (await storeKeys(app.app, storeId)).includes(id);

  it('#61 GET /v2/info/stores lists the configured stores; the default is marked with the string "true"', async function () {
    const res = await app.http.get('/v2/info/stores').set(A);
    assert.equal(res.status, 200);
    const fast: Record<string, string> = { id: 'fast', description: 'Fast local disk' };
    const cold: Record<string, string> = { id: 'cold' };
    (home === 'fast' ? fast : cold).default = 'true';
    assert.deepEqual(res.body, { stores: [fast, cold] });
  });

  it('#61 /v2/info/stores/detail: non-admin → 403; admin → types and properties', async function () {
    assert.equal((await app.http.get('/v2/info/stores/detail').set(A)).status, 403);
    const res = await app.http.get('/v2/info/stores/detail').set(ADMIN);
    assert.equal(res.status, 200);
    const byId = Object.fromEntries(res.body.stores.map((s: { id: string }) => [s.id, s])) as Record<string, Record<string, unknown>>;
    assert.equal(byId.fast.type, 'file');
    assert.deepEqual(Object.keys(byId.fast.properties as object).sort(), ['chunk_size', 'data_dir', 'thin_provisioning']);
    assert.equal(byId.cold.type, 's3');
    assert.deepEqual(Object.keys(byId.cold.properties as object).sort(), ['s3_store_large_object_chunk_size', 's3_store_large_object_size', 's3_store_thread_pools']);
    assert.equal(byId[home].default, 'true');
  });

  it('create answers OpenStack-image-store-ids with the configured stores only (§0.9)', async function () {
    const res = await app.http.post('/v2/images').set(A).send({});
    assert.equal(res.headers['openstack-image-store-ids'], 'fast,cold');
    assert.equal(res.headers['openstack-image-import-methods'], 'glance-direct,web-download,copy-image');
    assert.ok(!('stores' in res.body), 'no stores attribute without data');
  });

  it('upload without X-Image-Meta-Store lands in the default store; `stores` names it', async function () {
    const data = bytes(5000);
    const id = (await activeImage(app, data, {}, A)).id as string;
    assert.equal((await getImage(app, id, A)).stores, home);
    assert.ok(await holds(home, id));
    assert.ok(!(await holds(other, id)));
  });

  it('upload with X-Image-Meta-Store: <other> lands there; downloads and ranges read it back', async function () {
    const data = bytes(70_000);
    const id = (await createImage(app, RAW_BARE, A)).id as string;
    assert.equal((await upload(app, id, data, { ...A, 'X-Image-Meta-Store': other })).status, 204);
    const image = await getImage(app, id, A);
    assert.equal(image.stores, other);
    assert.equal(image.checksum, md5(data));
    assert.ok(await holds(other, id));
    assert.ok(!(await holds(home, id)));
    assert.ok(((await download(app, id, A)).body as Buffer).equals(data));
    const part = await download(app, id, { ...A, Range: 'bytes=100-199' });
    assert.equal(part.status, 206);
    assert.ok((part.body as Buffer).equals(data.subarray(100, 200)));
  });

  it('#61 upload with an unknown X-Image-Meta-Store → 400; the image stays queued and nothing is stored', async function () {
    const id = (await createImage(app, RAW_BARE, A)).id as string;
    const res = await upload(app, id, bytes(100), { ...A, 'X-Image-Meta-Store': 'nowhere' });
    assert.equal(res.status, 400);
    const image = await getImage(app, id, A);
    await assertBackToQueued(app, 'fast', image);
    await assertNoDataFor(app, 'cold', id);
  });

  it('failed uploads to the non-default store leave nothing there either (size cap)', async function () {
    const capped = await variant.start({ defaults: 'image_size_cap = 100' });
    try {
      const id = (await createImage(capped)).id as string;
      assert.equal((await upload(capped, id, bytes(101), { 'X-Image-Meta-Store': other })).status, 413);
      assert.equal((await getImage(capped, id)).status, 'queued');
      await assertNoDataFor(capped, other, id);
    } finally {
      await capped.close();
    }
  });

  it('glance-direct import to stores [fast, cold] → active in both, staging removed, progress properties ""', async function () {
    const data = bytes(40_000);
    const id = (await createImage(app, RAW_BARE, A)).id as string;
    assert.equal((await stage(app, id, data, A)).status, 204);
    assert.equal((await importing(id, { method: { name: 'glance-direct' }, stores: ['fast', 'cold'] })).status, 202);
    const image = await waitForImage(app, id, (i) => i.status === 'active', { headers: A });
    assert.deepEqual((image.stores as string).split(',').sort(), ['cold', 'fast']);
    assert.equal(image.checksum, md5(data));
    assert.equal(image.os_hash_value, sha512(data));
    assert.equal(image.os_glance_importing_to_stores, '');
    assert.equal(image.os_glance_failed_import, '');
    assert.ok(await holds('fast', id));
    assert.ok(await holds('cold', id));
    for (const storeId of ['fast', 'cold']) {
      assert.deepEqual((await storeKeys(app.app, storeId)).filter((k) => k.includes(id)), [id], `only the image object in ${storeId}`);
    }
  });

  it('glance-direct import with all_stores: true → every store; X-Image-Meta-Store picks one store', async function () {
    const all = (await createImage(app, RAW_BARE, A)).id as string;
    await stage(app, all, bytes(300), A);
    assert.equal((await importing(all, { method: { name: 'glance-direct' }, all_stores: true })).status, 202);
    const image = await waitForImage(app, all, (i) => i.status === 'active', { headers: A });
    assert.deepEqual((image.stores as string).split(',').sort(), ['cold', 'fast']);
    const one = (await createImage(app, RAW_BARE, A)).id as string;
    await stage(app, one, bytes(300), A);
    assert.equal((await app.http.post(`/v2/images/${one}/import`).set({ ...A, 'X-Image-Meta-Store': other }).send({ method: { name: 'glance-direct' } })).status, 202);
    assert.equal((await waitForImage(app, one, (i) => i.status === 'active', { headers: A })).stores, other);
  });

  it('import store selection errors: unknown store → 409; all_stores with stores → 400; header with stores → 400', async function () {
    const id = (await createImage(app, RAW_BARE, A)).id as string;
    await stage(app, id, bytes(10), A);
    assert.equal((await importing(id, { method: { name: 'glance-direct' }, stores: ['nowhere'] })).status, 409);
    assert.equal((await importing(id, { method: { name: 'glance-direct' }, stores: ['fast'], all_stores: true })).status, 400);
    const both = await app.http
      .post(`/v2/images/${id}/import`)
      .set({ ...A, 'X-Image-Meta-Store': 'fast' })
      .send({ method: { name: 'glance-direct' }, stores: ['cold'] });
    assert.equal(both.status, 400);
    assert.equal((await importing(id, { method: { name: 'glance-direct' }, stores: 'fast' })).status, 400);
    assert.equal((await getImage(app, id, A)).status, 'uploading');
  });

  it('copy-image (admin) copies an active image to the other store; status stays active', async function () {
    const data = bytes(20_000);
    const id = (await activeImage(app, data, {}, A)).id as string;
    assert.equal((await importing(id, { method: { name: 'copy-image' }, stores: [other] }, A)).status, 403, 'non-admin');
    assert.equal((await importing(id, { method: { name: 'copy-image' }, stores: [other] }, ADMIN)).status, 202);
    const image = await waitForImage(app, id, (i) => typeof i.stores === 'string' && i.stores.includes(other) && !i.os_glance_import_task, { headers: A });
    assert.equal(image.status, 'active');
    assert.deepEqual((image.stores as string).split(',').sort(), ['cold', 'fast']);
    assert.equal(image.checksum, md5(data));
    assert.equal(image.os_glance_failed_import, '');
    assert.ok(await holds(home, id));
    assert.ok(await holds(other, id));
  });

  it('copy-image to a store that already holds the image → 400; all_stores with nothing left → 202 and no change', async function () {
    const id = (await activeImage(app, bytes(100), {}, A)).id as string;
    assert.equal((await importing(id, { method: { name: 'copy-image' }, stores: [home] }, ADMIN)).status, 400);
    assert.equal((await importing(id, { method: { name: 'copy-image' }, all_stores: true }, ADMIN)).status, 202);
    await waitForImage(app, id, (i) => i.stores === 'fast,cold' || i.stores === 'cold,fast', { headers: A });
    const again = await importing(id, { method: { name: 'copy-image' }, all_stores: true }, ADMIN);
    assert.equal(again.status, 202);
    const image = await getImage(app, id, A);
    assert.ok(!image.os_glance_import_task, 'nothing was started');
  });

  it('DELETE /v2/stores/{store}/{id} removes one copy; the image stays readable from the other', async function () {
    const data = bytes(30_000);
    const id = (await activeImage(app, data, {}, A)).id as string;
    assert.equal((await importing(id, { method: { name: 'copy-image' }, stores: [other] }, ADMIN)).status, 202);
    await waitForImage(app, id, (i) => typeof i.stores === 'string' && i.stores.includes(other) && !i.os_glance_import_task, { headers: A });
    const res = await app.http.delete(`/v2/stores/${home}/${id}`).set(A);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    const image = await getImage(app, id, A);
    assert.equal(image.stores, other);
    assert.equal(image.status, 'active');
    assert.ok(!(await holds(home, id)), 'data removed from the store');
    assert.ok(await holds(other, id));
    assert.ok(((await download(app, id, A)).body as Buffer).equals(data), 'served from the remaining store');
    assert.equal((await download(app, id, { ...A, Range: 'bytes=-5' })).status, 206);
    assert.equal((await app.http.delete(`/v2/stores/${other}/${id}`).set(A)).status, 403, 'now the last location');
    assert.equal((await app.http.delete(`/v2/stores/${home}/${id}`).set(A)).status, 403, 'no longer in that store, and one location left: 403 as Glance');
  });

  it('#61 DELETE /v2/stores/{unknown}/{id} → 409; one location (in that store or not) → 403; not active → 409', async function () {
    const id = (await activeImage(app, bytes(10), {}, A)).id as string;
    assert.equal((await app.http.delete(`/v2/stores/nowhere/${id}`).set(A)).status, 409);
    assert.equal((await app.http.delete(`/v2/stores/${home}/${id}`).set(A)).status, 403);
    assert.ok(await holds(home, id), 'the last copy stays');
    assert.equal((await app.http.delete(`/v2/stores/${other}/${id}`).set(A)).status, 403, 'Glance checks the location count first');
    const queued = (await createImage(app, RAW_BARE, A)).id as string;
    assert.equal((await app.http.delete(`/v2/stores/${home}/${queued}`).set(A)).status, 409);
    assert.equal((await app.http.delete(`/v2/stores/${home}/0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f`).set(A)).status, 404);
  });

  it('DELETE /v2/stores by a non-owner → 403 (visible) / 404 (invisible)', async function () {
    const pub = (await activeImage(app, bytes(10), { visibility: 'community' }, A)).id as string;
    assert.equal((await app.http.delete(`/v2/stores/${home}/${pub}`).set(as('projB'))).status, 403);
    const priv = (await activeImage(app, bytes(10), { visibility: 'private' }, A)).id as string;
    assert.equal((await app.http.delete(`/v2/stores/${home}/${priv}`).set(as('projB'))).status, 404);
  });

  it('deleting an image removes its data from every store', async function () {
    const id = (await activeImage(app, bytes(500), {}, A)).id as string;
    await importing(id, { method: { name: 'copy-image' }, stores: [other] }, ADMIN);
    await waitForImage(app, id, (i) => typeof i.stores === 'string' && i.stores.includes(other) && !i.os_glance_import_task, { headers: A });
    assert.equal((await app.http.delete(`/v2/images/${id}`).set(A)).status, 204);
    await assertNoDataFor(app, 'fast', id);
    await assertNoDataFor(app, 'cold', id);
  });

  it('storage quota counts every copy of an image', async function () {
    const quota = await variant.start({ defaults: 'user_storage_quota = 1000', sections: TRUSTED });
    try {
      const Q = as('projQ');
      const id = (await activeImage(quota, bytes(400), {}, Q)).id as string;
      assert.equal((await quota.http.post(`/v2/images/${id}/import`).set(ADMIN).send({ method: { name: 'copy-image' }, stores: [other] })).status, 202);
      await waitForImage(quota, id, (i) => typeof i.stores === 'string' && i.stores.includes(other) && !i.os_glance_import_task, { headers: Q });
      const next = (await createImage(quota, RAW_BARE, Q)).id as string;
      assert.equal((await upload(quota, next, bytes(300), Q)).status, 413, '2 × 400 used, 200 left');
      assert.equal((await upload(quota, next, bytes(200), Q)).status, 204);
    } finally {
      await quota.close();
    }
  });

  it('the unauthenticated flavour may not see store details or copy images (§0.1)', async function () {
    const open = await variant.start();
    try {
      assert.equal((await open.http.get('/v2/info/stores').set(ADMIN)).status, 200);
      assert.equal((await open.http.get('/v2/info/stores/detail').set(ADMIN)).status, 403);
      const id = (await activeImage(open, bytes(10))).id as string;
      assert.equal((await open.http.post(`/v2/images/${id}/import`).send({ method: { name: 'copy-image' }, stores: [other] })).status, 403);
    } finally {
      await open.close();
    }
  });
});

describe('Glance v2: multi-store import with an unreachable store', function () {
  let server: S3TestServer;
  let app: TestApp;
  before(async function () {
    server = await startS3Server();
    const ini = multiStoreIni(server, 'fast', '', TRUSTED).replace(
      'enabled_backends = fast:file, cold:s3',
      'enabled_backends = fast:file, cold:s3, broken:s3',
    );
    app = await startTestApp(
      `${ini}[broken]\ns3_store_host = http://127.0.0.1:9\ns3_store_access_key = x\ns3_store_secret_key = y\ns3_store_bucket = nowhere\ns3_store_create_bucket_on_put = true\ns3_store_checksum_mode = when_required\n`,
    );
  });
  after(async function () {
    await app.close();
    await server.stop();
  });

  it('all_stores_must_succeed false: active in the stores that worked; the failed one is named', async function () {
    this.timeout(60_000);
    const data = bytes(1000);
    const id = (await createImage(app, RAW_BARE, A)).id as string;
    await stage(app, id, data, A);
    const res = await app.http
      .post(`/v2/images/${id}/import`)
      .set(A)
      .send({ method: { name: 'glance-direct' }, stores: ['fast', 'broken', 'cold'], all_stores_must_succeed: false });
    assert.equal(res.status, 202);
    const image = await waitForImage(app, id, (i) => i.status === 'active' && !i.os_glance_import_task, { headers: A, timeoutMs: 50_000 });
    assert.deepEqual((image.stores as string).split(',').sort(), ['cold', 'fast']);
    assert.equal(image.os_glance_failed_import, 'broken');
    assert.equal(image.os_glance_importing_to_stores, '');
    assert.equal(image.checksum, md5(data));
  });

  it('all_stores_must_succeed true (default): the import is reverted to queued and nothing is kept', async function () {
    this.timeout(60_000);
    const id = (await createImage(app, RAW_BARE, A)).id as string;
    await stage(app, id, bytes(1000), A);
    const res = await app.http.post(`/v2/images/${id}/import`).set(A).send({ method: { name: 'glance-direct' }, stores: ['fast', 'broken'] });
    assert.equal(res.status, 202);
    const image = await waitForImage(app, id, (i) => i.status === 'queued' && !i.os_glance_import_task, { headers: A, timeoutMs: 50_000 });
    assert.equal(image.size, null);
    assert.equal(image.checksum, null);
    assert.ok(!('stores' in image));
    assert.equal(image.os_glance_failed_import, 'broken');
    await assertNoDataFor(app, 'fast', id);
  });

  it('an upload to an unreachable store → 503; the image goes back to queued with size null', async function () {
    this.timeout(60_000);
    const id = (await createImage(app, RAW_BARE, A)).id as string;
    const res = await upload(app, id, bytes(1000), { ...A, 'X-Image-Meta-Store': 'broken', Accept: 'application/json' });
    assert.equal(res.status, 503);
    assert.equal(res.body.code, '503 Service Unavailable');
    const image = await getImage(app, id, A);
    assert.equal(image.status, 'queued');
    assert.equal(image.size, null);
    assert.equal((await upload(app, id, bytes(10), A)).status, 204, 'a retry on a working store succeeds');
  });

  it('copy-image to an unreachable store leaves the image active and unchanged, naming the failure', async function () {
    this.timeout(60_000);
    const id = (await activeImage(app, bytes(100), {}, A)).id as string;
    const res = await app.http.post(`/v2/images/${id}/import`).set(ADMIN).send({ method: { name: 'copy-image' }, stores: ['broken'] });
    assert.equal(res.status, 202);
    const image = await waitForImage(app, id, (i) => !i.os_glance_import_task, { headers: A, timeoutMs: 50_000 });
    assert.equal(image.status, 'active');
    assert.equal(image.stores, 'fast');
    assert.equal(image.os_glance_failed_import, 'broken');
  });
});

describe('Glance v2: store routes without multi-store', function () {
  it('DELETE /v2/stores/{store}/{id} → 404 and /v2/info/stores → 404 when single-store', async function () {
    const app = await startTestApp();
    try {
      const id = (await activeImage(app, bytes(10))).id as string;
      assert.equal((await app.http.delete(`/v2/stores/file/${id}`)).status, 404);
      assert.equal((await app.http.get('/v2/info/stores')).status, 404);
      assert.equal((await getImage(app, id)).status, 'active');
      assert.ok(!('stores' in (await getImage(app, id))));
    } finally {
      await app.close();
    }
  });
});
