import assert from 'node:assert/strict';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { createImage, patchImage, TIMESTAMP } from './support/harness';

describe('Glance v2: image members (trusted-auth)', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp(`${TRUSTED}[DEFAULT]\nimage_member_quota = 2\n`);
  });
  after(async function () {
    await app.close();
  });

  const OWNER = as('owner');
  const shared = async () => (await createImage(app, { visibility: 'shared' }, OWNER)).id as string;
  const add = (id: string, member: unknown, headers = OWNER) => app.http.post(`/v2/images/${id}/members`).set(headers).send({ member });

  it('#55 member POST on a shared image → 200 (not 201), status pending, full member document', async function () {
    const id = await shared();
    const res = await add(id, 'projA');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    assert.deepEqual(Object.keys(res.body).sort(), ['created_at', 'image_id', 'member_id', 'schema', 'status', 'updated_at']);
    assert.equal(res.body.status, 'pending');
    assert.equal(res.body.member_id, 'projA');
    assert.equal(res.body.image_id, id);
    assert.equal(res.body.schema, '/v2/schemas/member');
    assert.match(res.body.created_at, TIMESTAMP);
    assert.match(res.body.updated_at, TIMESTAMP);
  });

  it('#55 member POST on a private (or public/community) image → 403', async function () {
    for (const visibility of ['private', 'community']) {
      const id = (await createImage(app, { visibility }, OWNER)).id as string;
      assert.equal((await add(id, 'projA')).status, 403, visibility);
    }
  });

  it('#55 duplicate member → 409; over image_member_quota → 413', async function () {
    const id = await shared();
    assert.equal((await add(id, 'projA')).status, 200);
    assert.equal((await add(id, 'projA')).status, 409);
    assert.equal((await add(id, 'projB')).status, 200);
    assert.equal((await add(id, 'projC')).status, 413);
    const list = await app.http.get(`/v2/images/${id}/members`).set(OWNER);
    assert.deepEqual(list.body.members.map((m: { member_id: string }) => m.member_id).sort(), ['projA', 'projB']);
  });

  it('#55 bad member bodies → 400; a number is coerced to a string (§0.11)', async function () {
    const id = await shared();
    assert.equal((await app.http.post(`/v2/images/${id}/members`).set(OWNER).send({})).status, 400, 'missing');
    assert.equal((await add(id, '')).status, 400, 'empty');
    assert.equal((await add(id, 'm'.repeat(256))).status, 400, 'too long');
    assert.equal((await app.http.post(`/v2/images/${id}/members`).set(OWNER).send(['projA'])).status, 400, 'not an object');
    assert.equal((await app.http.post(`/v2/images/${id}/members`).set(OWNER)).status, 400, 'no body');
    assert.equal((await add(id, null)).status, 400, 'null');
    const numeric = await add(id, 5);
    assert.equal(numeric.status, 200);
    assert.equal(numeric.body.member_id, '5');
  });

  it('#55 only the owner (or an admin) adds members → 403 for a member', async function () {
    const id = await shared();
    assert.equal((await add(id, 'projA')).status, 200);
    assert.equal((await add(id, 'projB', as('projA'))).status, 403);
    assert.equal((await add(id, 'projB', as('admin', 'admin'))).status, 200);
  });

  it('#56 member list: the owner sees all, a member sees only itself, schema link', async function () {
    const id = await shared();
    await add(id, 'projA');
    await add(id, 'projB');
    const owner = await app.http.get(`/v2/images/${id}/members`).set(OWNER);
    assert.equal(owner.status, 200);
    assert.equal(owner.body.schema, '/v2/schemas/members');
    assert.deepEqual(owner.body.members.map((m: { member_id: string }) => m.member_id).sort(), ['projA', 'projB']);
    const member = await app.http.get(`/v2/images/${id}/members`).set(as('projA'));
    assert.deepEqual(member.body.members.map((m: { member_id: string }) => m.member_id), ['projA']);
    assert.equal((await app.http.get(`/v2/images/${id}/members`).set(as('projZ'))).status, 404, 'a stranger cannot see the image');
  });

  it('#56 member PUT by the owner → 403; by the member with accepted → 200; bad or missing status → 400', async function () {
    const id = await shared();
    await add(id, 'projA');
    const put = (status: unknown, headers: Record<string, string>) => app.http.put(`/v2/images/${id}/members/projA`).set(headers).send({ status });
    assert.equal((await put('accepted', OWNER)).status, 403);
    const accepted = await put('accepted', as('projA'));
    assert.equal(accepted.status, 200);
    assert.equal(accepted.body.status, 'accepted');
    assert.equal(accepted.body.member_id, 'projA');
    assert.equal((await put('maybe', as('projA'))).status, 400);
    assert.equal((await put(1, as('projA'))).status, 400);
    assert.equal((await app.http.put(`/v2/images/${id}/members/projA`).set(as('projA')).send({})).status, 400);
    for (const status of ['rejected', 'pending', 'accepted']) {
      const res = await put(status, as('projA'));
      assert.equal(res.status, 200, status);
      assert.equal(res.body.status, status);
    }
    const admin = await put('rejected', as('admin', 'admin'));
    assert.equal(admin.status, 200);
    const got = await app.http.get(`/v2/images/${id}/members/projA`).set(OWNER);
    assert.equal(got.body.status, 'rejected');
  });

  it('#56 PUT of an unknown member → 404', async function () {
    const id = await shared();
    assert.equal((await app.http.put(`/v2/images/${id}/members/nobody`).set(as('admin', 'admin')).send({ status: 'accepted' })).status, 404);
  });

  it('member GET: the owner and the member → 200; another member or non-member → 404', async function () {
    const id = await shared();
    await add(id, 'projA');
    await add(id, 'projB');
    assert.equal((await app.http.get(`/v2/images/${id}/members/projA`).set(OWNER)).status, 200);
    assert.equal((await app.http.get(`/v2/images/${id}/members/projA`).set(as('projA'))).status, 200);
    assert.equal((await app.http.get(`/v2/images/${id}/members/projA`).set(as('projB'))).status, 404);
    assert.equal((await app.http.get(`/v2/images/${id}/members/projC`).set(OWNER)).status, 404);
  });

  it('#57 member DELETE by the member → 403; by the owner → 204; then it is gone', async function () {
    const id = await shared();
    await add(id, 'projA');
    assert.equal((await app.http.delete(`/v2/images/${id}/members/projA`).set(as('projA'))).status, 403);
    const res = await app.http.delete(`/v2/images/${id}/members/projA`).set(OWNER);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    assert.equal((await app.http.get(`/v2/images/${id}/members/projA`).set(OWNER)).status, 404);
    assert.equal((await app.http.get(`/v2/images/${id}`).set(as('projA'))).status, 404, 'access ends with the membership');
    assert.equal((await app.http.delete(`/v2/images/${id}/members/projA`).set(OWNER)).status, 404);
  });

  it('re-adding a removed member starts again at pending', async function () {
    const id = await shared();
    await add(id, 'projA');
    await app.http.put(`/v2/images/${id}/members/projA`).set(as('projA')).send({ status: 'accepted' });
    await app.http.delete(`/v2/images/${id}/members/projA`).set(OWNER);
    const again = await add(id, 'projA');
    assert.equal(again.status, 200);
    assert.equal(again.body.status, 'pending');
  });

  it('membership in any status lets the member GET the image; only accepted ones are listed', async function () {
    const id = await shared();
    await add(id, 'projA');
    assert.equal((await app.http.get(`/v2/images/${id}`).set(as('projA'))).status, 200);
    const listed = async () => (await app.http.get('/v2/images').set(as('projA'))).body.images.map((i: { id: string }) => i.id);
    assert.ok(!(await listed()).includes(id));
    await app.http.put(`/v2/images/${id}/members/projA`).set(as('projA')).send({ status: 'accepted' });
    assert.ok((await listed()).includes(id));
  });

  it('an image that is no longer shared keeps its members, but member endpoints → 403 and access ends', async function () {
    const id = await shared();
    await add(id, 'projA');
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/visibility', value: 'private' }], OWNER)).status, 200);
    assert.equal((await app.http.get(`/v2/images/${id}/members`).set(OWNER)).status, 403);
    assert.equal((await add(id, 'projB')).status, 403);
    assert.equal((await app.http.get(`/v2/images/${id}`).set(as('projA'))).status, 404);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/visibility', value: 'shared' }], OWNER)).status, 200);
    const members = await app.http.get(`/v2/images/${id}/members`).set(OWNER);
    assert.deepEqual(members.body.members.map((m: { member_id: string }) => m.member_id), ['projA']);
  });
});
