import assert from 'node:assert/strict';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { activeImage, createImage, getImage, patchImage, RAW_BARE } from './support/harness';

/** Legacy owner/admin authorization (§3.2) as seen through every per-image endpoint. */
describe('Glance v2: who may see and change an image (trusted-auth)', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp(TRUSTED);
  });
  after(async function () {
    await app.close();
  });

  const A = as('projA');
  const B = as('projB');
  const octet = { 'Content-Type': 'application/octet-stream' };

  /** Every per-image call, as [label, request]. */
  const calls = (id: string, headers: Record<string, string>) => [
    ['GET', () => app.http.get(`/v2/images/${id}`).set(headers)],
    ['PATCH', () => patchImage(app, id, [{ op: 'replace', path: '/name', value: 'x' }], headers)],
    ['DELETE', () => app.http.delete(`/v2/images/${id}`).set(headers)],
    ['PUT file', () => app.http.put(`/v2/images/${id}/file`).set({ ...headers, ...octet }).send(Buffer.from('abc'))],
    ['GET file', () => app.http.get(`/v2/images/${id}/file`).set(headers)],
    ['PUT stage', () => app.http.put(`/v2/images/${id}/stage`).set({ ...headers, ...octet }).send(Buffer.from('abc'))],
    ['POST import', () => app.http.post(`/v2/images/${id}/import`).set(headers).send({ method: { name: 'glance-direct' } })],
    ['deactivate', () => app.http.post(`/v2/images/${id}/actions/deactivate`).set(headers)],
    ['reactivate', () => app.http.post(`/v2/images/${id}/actions/reactivate`).set(headers)],
    ['PUT tag', () => app.http.put(`/v2/images/${id}/tags/t`).set(headers)],
    ['DELETE tag', () => app.http.delete(`/v2/images/${id}/tags/t`).set(headers)],
    ['GET members', () => app.http.get(`/v2/images/${id}/members`).set(headers)],
    ['POST members', () => app.http.post(`/v2/images/${id}/members`).set(headers).send({ member: 'projC' })],
    ['GET member', () => app.http.get(`/v2/images/${id}/members/projC`).set(headers)],
    ['PUT member', () => app.http.put(`/v2/images/${id}/members/projC`).set(headers).send({ status: 'accepted' })],
    ['DELETE member', () => app.http.delete(`/v2/images/${id}/members/projC`).set(headers)],
    ['GET tasks', () => app.http.get(`/v2/images/${id}/tasks`).set(headers)],
  ] as const;

  it('#26 an invisible image answers 404 (not 403) on GET, PATCH, DELETE, PUT file, members, tags and the rest', async function () {
    for (const visibility of ['private', 'shared']) {
      const image = await activeImage(app, Buffer.from('secret'), { visibility, tags: ['t'] }, B);
      const id = image.id as string;
      if (visibility === 'shared') {
        assert.equal((await app.http.post(`/v2/images/${id}/members`).set(B).send({ member: 'projC' })).status, 200);
      }
      for (const [label, call] of calls(id, A)) {
        const res = await call();
        assert.equal(res.status, 404, `${visibility} ${label}: ${res.status}`);
      }
      // and the owner's image is untouched
      const after = await getImage(app, id, B);
      assert.equal(after.status, 'active');
      assert.deepEqual(after.tags, ['t']);
      assert.equal(after.name, null);
    }
  });

  it('#26 an invisible image looks exactly like a missing one', async function () {
    const id = (await createImage(app, { visibility: 'private' }, B)).id as string;
    const hidden = await app.http.get(`/v2/images/${id}`).set(A).set('Accept', 'application/json');
    const missing = await app.http.get('/v2/images/0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f').set(A).set('Accept', 'application/json');
    assert.equal(hidden.status, 404);
    assert.equal(hidden.body.code, missing.body.code);
    assert.equal(hidden.text.replace(id, 'ID'), missing.text.replace('0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f', 'ID'));
  });

  it('#27 a visible foreign image: PATCH/DELETE/upload/deactivate/tag PUT → 403', async function () {
    for (const visibility of ['public', 'community', 'shared']) {
      const headers = visibility === 'public' ? as('projB', 'admin') : B;
      const queued = await createImage(app, { ...RAW_BARE, visibility, owner: 'projB' }, headers);
      const active = await activeImage(app, Buffer.from('data'), { visibility, owner: 'projB' }, headers);
      for (const image of [queued, active]) {
        const id = image.id as string;
        if (visibility === 'shared') {
          assert.equal((await app.http.post(`/v2/images/${id}/members`).set(B).send({ member: 'projA' })).status, 200);
        }
        assert.equal((await app.http.get(`/v2/images/${id}`).set(A)).status, 200, 'visible');
        const attempts: Array<[string, () => Promise<{ status: number }>]> = [
          ['PATCH', () => patchImage(app, id, [{ op: 'replace', path: '/name', value: 'x' }], A)],
          ['DELETE', () => app.http.delete(`/v2/images/${id}`).set(A)],
          ['PUT file', () => app.http.put(`/v2/images/${id}/file`).set({ ...A, ...octet }).send(Buffer.from('x'))],
          ['PUT stage', () => app.http.put(`/v2/images/${id}/stage`).set({ ...A, ...octet }).send(Buffer.from('x'))],
          ['deactivate', () => app.http.post(`/v2/images/${id}/actions/deactivate`).set(A)],
          ['reactivate', () => app.http.post(`/v2/images/${id}/actions/reactivate`).set(A)],
          ['PUT tag', () => app.http.put(`/v2/images/${id}/tags/mine`).set(A)],
          ['DELETE tag', () => app.http.delete(`/v2/images/${id}/tags/mine`).set(A)],
        ];
        for (const [label, call] of attempts) {
          const res = await call();
          assert.equal(res.status, 403, `${visibility}/${image.status as string} ${label}: ${res.status}`);
        }
        const after = await getImage(app, id, B);
        assert.equal(after.status, image.status);
        assert.equal(after.name, null);
        assert.deepEqual(after.tags, []);
      }
    }
  });

  it('#27 visible foreign image: download is allowed (legacy policy), including for a pending member', async function () {
    const image = await activeImage(app, Buffer.from('shared bytes'), { visibility: 'shared' }, B);
    const id = image.id as string;
    await app.http.post(`/v2/images/${id}/members`).set(B).send({ member: 'projA' });
    const res = await app.http.get(`/v2/images/${id}/file`).set(A).buffer(true);
    assert.equal(res.status, 200);
    assert.equal(Buffer.from(res.body as Buffer).toString(), 'shared bytes');
  });

  it('images with owner null are visible to all and mutable only by admins', async function () {
    const id = (await createImage(app, { owner: null }, as('projAdmin', 'admin'))).id as string;
    assert.equal((await app.http.get(`/v2/images/${id}`).set(A)).status, 200);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/name', value: 'x' }], A)).status, 403);
    assert.equal((await patchImage(app, id, [{ op: 'replace', path: '/name', value: 'x' }], as('projAdmin', 'admin'))).status, 200);
  });

  it('an admin may act on any image', async function () {
    const id = (await createImage(app, { visibility: 'private' }, B)).id as string;
    const admin = as('projAdmin', 'admin');
    assert.equal((await app.http.get(`/v2/images/${id}`).set(admin)).status, 200);
    assert.equal((await app.http.put(`/v2/images/${id}/tags/admin-tag`).set(admin)).status, 204);
    assert.equal((await app.http.delete(`/v2/images/${id}`).set(admin)).status, 204);
  });
});
