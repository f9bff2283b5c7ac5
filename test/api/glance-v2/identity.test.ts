import assert from 'node:assert/strict';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { createImage, patchImage, REQUEST_ID } from './support/harness';

/**
 * Identity flavours (§3.1, §0.1, §0.2). The keystone items of the checklist (#4, #5) are asserted
 * with the trusted-auth flavour, which reads the same headers keystonemiddleware sets; the real
 * Keystone token validation is tested separately once it exists.
 */
describe('Glance v2: identity flavours', function () {
  describe('unauthenticated flavour (flavor empty, the default)', function () {
    let app: TestApp;
    before(async function () {
      app = await startTestApp();
    });
    after(async function () {
      await app.close();
    });

    it('#16 owner of created images is null, and identity headers are ignored', async function () {
      const res = await app.http.post('/v2/images').set(as('projA', 'admin')).send({ name: 'x' });
      assert.equal(res.status, 201);
      assert.equal(res.body.owner, null);
    });

    it('visibility public on create → 403 (no admin role), even with X-Roles: admin', async function () {
      const res = await app.http.post('/v2/images').set(as('projA', 'admin')).send({ visibility: 'public' });
      assert.equal(res.status, 403);
      const listed = await app.http.get('/v2/images?visibility=public');
      assert.deepEqual(listed.body.images, []);
    });

    it('visibility public on PATCH → 403; community/private/shared are allowed', async function () {
      const image = await createImage(app);
      const patch = (value: string) => patchImage(app, image.id as string, [{ op: 'replace', path: '/visibility', value }]);
      assert.equal((await patch('public')).status, 403);
      for (const v of ['community', 'private', 'shared']) {
        const res = await patch(v);
        assert.equal(res.status, 200, v);
        assert.equal(res.body.visibility, v);
      }
    });

    it('the context is admin-like for ownership: any image can be changed and an owner can be set', async function () {
      const res = await app.http.post('/v2/images').send({ owner: 'someone-else' });
      assert.equal(res.status, 201);
      assert.equal(res.body.owner, 'someone-else');
      const patched = await patchImage(app, res.body.id as string, [{ op: 'replace', path: '/name', value: 'renamed' }]);
      assert.equal(patched.status, 200);
    });

    it('#66 /v2/tasks → 403 in this flavour (GET, POST, GET one, DELETE one)', async function () {
      assert.equal((await app.http.get('/v2/tasks').set(as('projA', 'admin'))).status, 403);
      assert.equal((await app.http.post('/v2/tasks').send({ type: 'import', input: {} })).status, 403);
      assert.equal((await app.http.get('/v2/tasks/0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f')).status, 403);
      const del = await app.http.delete('/v2/tasks/0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f');
      assert.equal(del.status, 403);
    });

    it('#5 (contrast) an inbound X-OpenStack-Request-ID is not adopted: a fresh id is generated', async function () {
      const res = await app.http.get('/v2/images').set('X-OpenStack-Request-ID', 'abc');
      assert.match(res.headers['x-openstack-request-id'], REQUEST_ID);
    });
  });

  describe('trusted-auth flavour (stands in for keystone in #4/#5)', function () {
    let app: TestApp;
    before(async function () {
      app = await startTestApp(TRUSTED);
    });
    after(async function () {
      await app.close();
    });

    it('#4 a request without X-Identity-Status: Confirmed → 401; with it → 200 and x-openstack-request-id req-<uuid>', async function () {
      const none = await app.http.get('/v2/images');
      assert.equal(none.status, 401);
      const invalid = await app.http.get('/v2/images').set({ ...as('projA'), 'X-Identity-Status': 'Invalid' });
      assert.equal(invalid.status, 401);
      const { 'X-Identity-Status': _omit, ...headersOnly } = as('projA');
      const unconfirmed = await app.http.get('/v2/images').set(headersOnly);
      assert.equal(unconfirmed.status, 401);
      const ok = await app.http.get('/v2/images').set(as('projA'));
      assert.equal(ok.status, 200);
      assert.match(ok.headers['x-openstack-request-id'], REQUEST_ID);
    });

    it('#4 401 bodies follow the Accept rules too', async function () {
      const res = await app.http.get('/v2/images').set('Accept', 'application/json');
      assert.equal(res.status, 401);
      assert.equal(res.body.code, '401 Unauthorized');
    });

    it('#5 inbound X-OpenStack-Request-ID: abc is echoed as req-abc; req-xyz stays req-xyz', async function () {
      const res = await app.http.get('/v2/images').set(as('projA')).set('X-OpenStack-Request-ID', 'abc');
      assert.equal(res.headers['x-openstack-request-id'], 'req-abc');
      const prefixed = await app.http.get('/v2/images').set(as('projA')).set('X-OpenStack-Request-ID', 'req-xyz');
      assert.equal(prefixed.headers['x-openstack-request-id'], 'req-xyz');
    });

    it('#16 owner defaults to the caller project (X-Project-Id, falling back to X-Tenant-Id)', async function () {
      const res = await app.http.post('/v2/images').set(as('projA')).send({});
      assert.equal(res.body.owner, 'projA');
      const tenant = await app.http
        .post('/v2/images')
        .set({ 'X-Identity-Status': 'Confirmed', 'X-Tenant-Id': 'projT', 'X-Roles': 'member', 'X-User-Id': 'u' })
        .send({});
      assert.equal(tenant.status, 201);
      assert.equal(tenant.body.owner, 'projT');
    });

    it('X-Roles is split on commas, trimmed and lower-cased: " Admin " makes an admin', async function () {
      const res = await app.http.post('/v2/images').set(as('projA', 'reader, Admin ')).send({ visibility: 'public' });
      assert.equal(res.status, 201);
      assert.equal(res.body.visibility, 'public');
      const member = await app.http.post('/v2/images').set(as('projA', 'member,reader')).send({ visibility: 'public' });
      assert.equal(member.status, 403);
    });

    it('a reader-only user can create images (legacy policy ignores member/reader)', async function () {
      const res = await app.http.post('/v2/images').set(as('projR', 'reader')).send({ name: 'r' });
      assert.equal(res.status, 201);
    });

    it('tasks API: non-admin → 403; admin → 200', async function () {
      assert.equal((await app.http.get('/v2/tasks').set(as('projA'))).status, 403);
      assert.equal((await app.http.get('/v2/tasks').set(as('projA', 'admin'))).status, 200);
    });
  });
});
