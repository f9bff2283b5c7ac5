import assert from 'node:assert/strict';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { activeImage, createImage, getImage, patchImage, stage, storeKeys } from './support/harness';

describe('Glance v2: DELETE and image actions', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp(TRUSTED);
  });
  after(async function () {
    await app.close();
  });

  const A = as('projA');
  const ADMIN = as('projAdmin', 'admin');

  it('#35 DELETE → 204 with an empty body, then GET → 404 for the owner and for an admin; DELETE again → 404', async function () {
    const image = await activeImage(app, Buffer.from('to be deleted'), {}, A);
    const id = image.id as string;
    assert.ok((await storeKeys(app.app, 'file')).includes(id));
    const res = await app.http.delete(`/v2/images/${id}`).set(A);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.equal((await app.http.get(`/v2/images/${id}`).set(A)).status, 404);
    assert.equal((await app.http.get(`/v2/images/${id}`).set(ADMIN)).status, 404);
    assert.equal((await app.http.get(`/v2/images/${id}/file`).set(ADMIN)).status, 404);
    assert.equal((await app.http.delete(`/v2/images/${id}`).set(A)).status, 404);
    assert.ok(!(await storeKeys(app.app, 'file')).includes(id), 'the data is removed synchronously');
  });

  it('#35 DELETE of a protected image → 403 and it stays; unprotect then delete → 204', async function () {
    const id = (await createImage(app, { protected: true }, A)).id as string;
    assert.equal((await app.http.delete(`/v2/images/${id}`).set(A)).status, 403);
    assert.equal((await app.http.delete(`/v2/images/${id}`).set(ADMIN)).status, 403, 'even for an admin');
    assert.equal((await getImage(app, id, A)).status, 'queued');
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/protected', value: false }], A)).status, 200);
    assert.equal((await app.http.delete(`/v2/images/${id}`).set(A)).status, 204);
  });

  it('DELETE works from queued, uploading (staged data removed) and deactivated', async function () {
    const queued = (await createImage(app, {}, A)).id as string;
    assert.equal((await app.http.delete(`/v2/images/${queued}`).set(A)).status, 204);
    const staged = (await createImage(app, {}, A)).id as string;
    assert.equal((await stage(app, staged, Buffer.from('staged'), A)).status, 204);
    assert.ok((await storeKeys(app.app, 'file')).some((k) => k.includes(staged)));
    assert.equal((await app.http.delete(`/v2/images/${staged}`).set(A)).status, 204);
    assert.ok(!(await storeKeys(app.app, 'file')).some((k) => k.includes(staged)), 'staged data removed');
    const deactivated = (await activeImage(app, Buffer.from('x'), {}, A)).id as string;
    assert.equal((await app.http.post(`/v2/images/${deactivated}/actions/deactivate`).set(A)).status, 204);
    assert.equal((await app.http.delete(`/v2/images/${deactivated}`).set(A)).status, 204);
    assert.equal((await app.http.get(`/v2/images/${deactivated}`).set(A)).status, 404);
  });

  it('DELETE removes members and tags with the image', async function () {
    const id = (await createImage(app, { visibility: 'shared', tags: ['t'] }, A)).id as string;
    assert.equal((await app.http.post(`/v2/images/${id}/members`).set(A).send({ member: 'projB' })).status, 200);
    assert.equal((await app.http.delete(`/v2/images/${id}`).set(A)).status, 204);
    assert.equal((await app.http.get(`/v2/images/${id}/members`).set(A)).status, 404);
    assert.equal((await app.http.get('/v2/images?member_status=all').set(as('projB'))).body.images.length, 0);
  });

  it('#36 deactivate active → 204 deactivated; again → 204; reactivate → 204 active; again → 204', async function () {
    const id = (await activeImage(app, Buffer.from('abc'), {}, A)).id as string;
    const res = await app.http.post(`/v2/images/${id}/actions/deactivate`).set(A);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.equal((await getImage(app, id, A)).status, 'deactivated');
    assert.equal((await app.http.post(`/v2/images/${id}/actions/deactivate`).set(A)).status, 204);
    assert.equal((await getImage(app, id, A)).status, 'deactivated');
    assert.ok((await app.http.get('/v2/images').set(A)).body.images.some((i: { id: string }) => i.id === id), 'still listed');
    assert.equal((await app.http.post(`/v2/images/${id}/actions/reactivate`).set(A)).status, 204);
    assert.equal((await getImage(app, id, A)).status, 'active');
    assert.equal((await app.http.post(`/v2/images/${id}/actions/reactivate`).set(A)).status, 204);
    assert.equal((await getImage(app, id, A)).status, 'active');
  });

  it('#36 deactivate queued → 403; reactivate queued → 403; status unchanged', async function () {
    const id = (await createImage(app, {}, A)).id as string;
    assert.equal((await app.http.post(`/v2/images/${id}/actions/deactivate`).set(A)).status, 403);
    assert.equal((await app.http.post(`/v2/images/${id}/actions/reactivate`).set(A)).status, 403);
    assert.equal((await getImage(app, id, A)).status, 'queued');
    assert.equal((await app.http.post('/v2/images/0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f/actions/deactivate').set(A)).status, 404);
  });

  it('#37 deactivated image: non-admin download → 403, admin download → 200; upload → 409; PATCH still works', async function () {
    const data = Buffer.from('deactivated data');
    const id = (await activeImage(app, data, { visibility: 'community' }, A)).id as string;
    assert.equal((await app.http.post(`/v2/images/${id}/actions/deactivate`).set(A)).status, 204);
    assert.equal((await app.http.get(`/v2/images/${id}/file`).set(A)).status, 403, 'owner');
    assert.equal((await app.http.get(`/v2/images/${id}/file`).set(as('projB'))).status, 403, 'other project');
    const admin = await app.http.get(`/v2/images/${id}/file`).set(ADMIN).buffer(true);
    assert.equal(admin.status, 200);
    assert.ok(Buffer.from(admin.body as Buffer).equals(data));
    const upload = await app.http.put(`/v2/images/${id}/file`).set({ ...A, 'Content-Type': 'application/octet-stream' }).send(Buffer.from('new'));
    assert.equal(upload.status, 409);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/name', value: 'still patchable' }], A)).status, 200);
    assert.equal((await app.http.post(`/v2/images/${id}/actions/reactivate`).set(A)).status, 204);
    assert.equal((await app.http.get(`/v2/images/${id}/file`).set(A)).status, 200);
  });

  it('actions refuse a request body → 400', async function () {
    const id = (await activeImage(app, Buffer.from('abc'), {}, A)).id as string;
    const res = await app.http.post(`/v2/images/${id}/actions/deactivate`).set(A).send({ reason: 'x' });
    assert.equal(res.status, 400);
    assert.equal((await getImage(app, id, A)).status, 'active');
  });
});
