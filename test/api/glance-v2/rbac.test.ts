import assert from 'node:assert/strict';
import { as, startTestApp, TRUSTED, TRUSTED_RBAC, type TestApp } from '../../support/app';
import { activeImage, createImage, download, getImage, patchImage, RAW_BARE, stage, upload } from './support/harness';

/**
 * Glance's secure-RBAC defaults (enforce_new_defaults = true, its default since 2024.1) through
 * the API, with the roles a Keystone token carries (admin ⇒ member ⇒ reader).
 */
describe('Glance v2: secure RBAC defaults (trusted-auth)', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp(TRUSTED_RBAC);
  });
  after(async function () {
    await app.close();
  });

  const READER = as('projA', 'reader');
  const MEMBER = as('projA', 'member,reader');
  const ADMIN = as('projAdmin', 'admin,member,reader');
  const OTHER = as('projB', 'member,reader');
  const OTHER_READER = as('projB', 'reader');
  const octet = { 'Content-Type': 'application/octet-stream' };
  const data = Buffer.from('rbac image data');

  /** Every write on one image, as [label, request]. */
  const writes = (id: string, headers: Record<string, string>) =>
    [
      ['PATCH', () => patchImage(app, id, [{ op: 'replace', path: '/name', value: 'x' }], headers)],
      ['DELETE', () => app.http.delete(`/v2/images/${id}`).set(headers)],
      ['PUT file', () => app.http.put(`/v2/images/${id}/file`).set({ ...headers, ...octet }).send(Buffer.from('x'))],
      ['PUT stage', () => app.http.put(`/v2/images/${id}/stage`).set({ ...headers, ...octet }).send(Buffer.from('x'))],
      ['POST import', () => app.http.post(`/v2/images/${id}/import`).set(headers).send({ method: { name: 'glance-direct' } })],
      ['deactivate', () => app.http.post(`/v2/images/${id}/actions/deactivate`).set(headers)],
      ['reactivate', () => app.http.post(`/v2/images/${id}/actions/reactivate`).set(headers)],
      ['PUT tag', () => app.http.put(`/v2/images/${id}/tags/t`).set(headers)],
      ['DELETE tag', () => app.http.delete(`/v2/images/${id}/tags/t`).set(headers)],
      ['POST members', () => app.http.post(`/v2/images/${id}/members`).set(headers).send({ member: 'projC' })],
    ] as const;

  it("a project reader lists and shows its project images; downloading needs member (Glance's download_image)", async function () {
    const image = await activeImage(app, data, {}, MEMBER);
    const id = image.id as string;
    const list = await app.http.get('/v2/images').set(READER);
    assert.equal(list.status, 200);
    assert.ok((list.body.images as Array<{ id: string }>).some((i) => i.id === id));
    assert.equal((await getImage(app, id, READER)).id, id);
    const file = await download(app, id, READER);
    assert.equal(file.status, 403, 'download_image is role:member in Glance, not reader');
    assert.equal((await download(app, id, MEMBER)).status, 200);
  });

  it('a project reader cannot write: create, PATCH, DELETE, upload, stage, import, actions, tags, members → 403, nothing changed', async function () {
    assert.equal((await app.http.post('/v2/images').set(READER).send({ name: 'nope' })).status, 403);
    const id = (await createImage(app, { ...RAW_BARE, visibility: 'shared', tags: ['t'] }, MEMBER)).id as string;
    assert.equal((await stage(app, id, data, MEMBER)).status, 204, 'staged, so that only the policy can refuse the import');
    for (const [label, call] of writes(id, READER)) {
      const res = await call();
      assert.equal(res.status, 403, `${label}: ${res.status} ${res.text}`);
    }
    const after = await getImage(app, id, MEMBER);
    assert.equal(after.status, 'uploading');
    assert.equal(after.name, null);
    assert.deepEqual(after.tags, ['t']);
  });

  it('a project member writes in its own project: create, PATCH, upload, tag, deactivate, delete', async function () {
    const id = (await createImage(app, RAW_BARE, MEMBER)).id as string;
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/name', value: 'mine' }], MEMBER)).status, 200);
    assert.equal((await upload(app, id, data, MEMBER)).status, 204);
    assert.equal((await app.http.put(`/v2/images/${id}/tags/ok`).set(MEMBER)).status, 204);
    assert.equal((await app.http.post(`/v2/images/${id}/actions/deactivate`).set(MEMBER)).status, 204);
    assert.equal((await app.http.post(`/v2/images/${id}/actions/reactivate`).set(MEMBER)).status, 204);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/visibility', value: 'community' }], MEMBER)).status, 200);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/visibility', value: 'public' }], MEMBER)).status, 403, 'publicize_image: admin');
    assert.equal((await app.http.delete(`/v2/images/${id}`).set(MEMBER)).status, 204);
  });

  it("another project's member: its private image is missing (404), its public image readable but not writable (403)", async function () {
    const hidden = (await activeImage(app, data, { visibility: 'private' }, MEMBER)).id as string;
    assert.equal((await app.http.get(`/v2/images/${hidden}`).set(OTHER)).status, 404);
    for (const [label, call] of writes(hidden, OTHER)) assert.equal((await call()).status, 404, label);

    const open = (await activeImage(app, data, { visibility: 'public' }, ADMIN)).id as string;
    assert.equal((await app.http.get(`/v2/images/${open}`).set(OTHER_READER)).status, 200);
    assert.equal((await download(app, open, OTHER)).status, 200);
    for (const label of ['PATCH', 'DELETE', 'deactivate', 'PUT tag'] as const) {
      const call = writes(open, OTHER).find(([l]) => l === label)?.[1];
      assert.equal((await call?.())?.status, 403, label);
    }
  });

  it('creating an image for another project needs admin', async function () {
    const res = await app.http.post('/v2/images').set(MEMBER).send({ owner: 'projB' });
    assert.equal(res.status, 403);
    assert.match(res.text, /owned by another project/);
    const admin = await app.http.post('/v2/images').set(ADMIN).send({ owner: 'projB' });
    assert.equal(admin.status, 201);
    assert.equal(admin.body.owner, 'projB');
  });

  it("admin overrides: changes and deletes any project's private image, publicizes", async function () {
    const id = (await createImage(app, { visibility: 'private' }, MEMBER)).id as string;
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/visibility', value: 'public' }], ADMIN)).status, 200);
    assert.equal((await app.http.delete(`/v2/images/${id}`).set(ADMIN)).status, 204);
  });

  it('sharing: the member project reads a shared image, a member accepts it, a reader of that project may not', async function () {
    const id = (await activeImage(app, data, { visibility: 'shared' }, MEMBER)).id as string;
    assert.equal((await app.http.post(`/v2/images/${id}/members`).set(MEMBER).send({ member: 'projB' })).status, 200);
    assert.equal((await app.http.post(`/v2/images/${id}/members`).set(READER).send({ member: 'projC' })).status, 403);
    assert.equal((await app.http.get(`/v2/images/${id}/members/projB`).set(OTHER_READER)).status, 200);
    assert.equal((await app.http.put(`/v2/images/${id}/members/projB`).set(OTHER_READER).send({ status: 'accepted' })).status, 403);
    assert.equal((await app.http.put(`/v2/images/${id}/members/projB`).set(MEMBER).send({ status: 'accepted' })).status, 403, 'the owner');
    const accepted = await app.http.put(`/v2/images/${id}/members/projB`).set(OTHER).send({ status: 'accepted' });
    assert.equal(accepted.status, 200);
    assert.equal(accepted.body.status, 'accepted');
    assert.equal((await download(app, id, OTHER)).status, 200);
  });

  it('a token without the reader role may not list (Keystone tokens carry the implied roles; bare X-Roles may not)', async function () {
    assert.equal((await app.http.get('/v2/images').set(as('projA', 'member'))).status, 403);
    assert.equal((await app.http.get('/v2/images').set(as('projA', 'other-role'))).status, 403);
  });

  it('tasks API and copy-image are admin only; a member may not', async function () {
    assert.equal((await app.http.get('/v2/tasks').set(MEMBER)).status, 403);
    assert.equal((await app.http.get('/v2/tasks').set(ADMIN)).status, 200);
    const id = (await activeImage(app, data, {}, MEMBER)).id as string;
    assert.equal((await app.http.post(`/v2/images/${id}/import`).set(MEMBER).send({ method: { name: 'copy-image' } })).status, 403);
  });

  it('metadefs follow the same policy: a reader reads public and own namespaces, only admin writes', async function () {
    const NS = '/v2/metadefs/namespaces';
    assert.equal((await app.http.post(NS).set(MEMBER).send({ namespace: 'RBAC::Member' })).status, 403);
    assert.equal((await app.http.post(NS).set(ADMIN).send({ namespace: 'RBAC::Public', visibility: 'public' })).status, 201);
    assert.equal((await app.http.post(NS).set(ADMIN).send({ namespace: 'RBAC::Private', visibility: 'private' })).status, 201);
    assert.equal((await app.http.get(`${NS}/RBAC::Public`).set(OTHER_READER)).status, 200);
    assert.equal((await app.http.get(`${NS}/RBAC::Private`).set(OTHER_READER)).status, 404, "another project's private namespace");
    // get_metadef_namespaces needs reader; refused along with get_metadef_namespace it is 404 (Glance's MetadefAPIPolicy)
    assert.equal((await app.http.get(NS).set(as('projB', 'member'))).status, 404);
  });

  it('scope: a system-scoped token is refused on the project-scoped image rules', async function () {
    const system = { ...as('', 'admin,member,reader'), 'OpenStack-System-Scope': 'all' };
    delete (system as Record<string, string>)['X-Project-Id'];
    assert.equal((await app.http.get('/v2/images').set(system)).status, 403);
    assert.equal((await app.http.post('/v2/images').set(system).send({})).status, 403);
  });

  it('stage and import follow modify_image: the member of the owning project may, a reader may not', async function () {
    const id = (await createImage(app, RAW_BARE, MEMBER)).id as string;
    assert.equal((await stage(app, id, data, READER)).status, 403);
    assert.equal((await stage(app, id, data, MEMBER)).status, 204);
  });
});

describe('Glance v2: the legacy rules and the unauthenticated flavour beside secure RBAC', function () {
  it('enforce_new_defaults = false: a reader-only user writes in its project (legacy owner rules)', async function () {
    const legacy = await startTestApp(TRUSTED);
    try {
      const res = await legacy.http.post('/v2/images').set(as('projR', 'reader')).send({ name: 'r' });
      assert.equal(res.status, 201);
      assert.equal((await legacy.http.delete(`/v2/images/${res.body.id as string}`).set(as('projR', 'reader'))).status, 204);
      const other = (await createImage(legacy, {}, as('projB'))).id as string;
      assert.equal((await legacy.http.delete(`/v2/images/${other}`).set(as('projR', 'reader'))).status, 404);
    } finally {
      await legacy.close();
    }
  });

  it('the unauthenticated flavour keeps its admin-like context under the default (new) rules', async function () {
    const open = await startTestApp();
    try {
      const created = await open.http.post('/v2/images').send({ ...RAW_BARE, owner: 'someone' });
      assert.equal(created.status, 201);
      const id = created.body.id as string;
      assert.equal((await upload(open, id, Buffer.from('abc'))).status, 204);
      assert.equal((await open.http.get('/v2/images')).body.images.length, 1);
      assert.equal((await patchImage(open, id, [{ op: 'replace', path: '/visibility', value: 'public' }])).status, 403, 'no admin role');
      assert.equal((await open.http.delete(`/v2/images/${id}`)).status, 204);
    } finally {
      await open.close();
    }
  });
});
