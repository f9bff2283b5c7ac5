import assert from 'node:assert/strict';
import type { Context } from 'koa';
import { contextFromIdentity, type RequestContext } from '../../../src/domain/context';
import { fail } from '../../../src/domain/errors';
import type { Authenticator } from '../../../src/http/identity';
import { startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { envelope, expectOutcome, minimal, post, register } from './support';

const CHALLENGE = 'Keystone uri="http://keystone.invalid:5000/v3"';

/** Stands in for Keystone: the token "good" is valid, anything else is not. */
class FakeKeystone implements Authenticator {
  readonly adoptsRequestId = true;
  readonly wwwAuthenticate = CHALLENGE;
  calls = 0;

  async authenticate(ctx: Context, requestId: string): Promise<RequestContext> {
    this.calls += 1;
    if (ctx.get('x-auth-token') !== 'good') fail('UNAUTHENTICATED', 'The request you have made requires authentication.');
    return contextFromIdentity(requestId, { userId: 'u1', projectId: 'p1', roles: ['member'] });
  }
}

const KEYSTONE_INI = [
  '[paste_deploy]',
  'flavor = keystone',
  '[keystone_authtoken]',
  'www_authenticate_uri = http://keystone.invalid:5000/v3',
  'auth_url = http://keystone.invalid:5000',
  'username = glint',
  'password = secret',
  '',
].join('\n');

describe('algoPlatform: identity', function () {
  const apps: TestApp[] = [];
  after(async function () {
    await Promise.all(apps.map((app) => app.close()));
  });

  it('open without authentication (the default flavour), as the platform was', async function () {
    const app = await startTestApp();
    apps.push(app);
    await register(app, minimal());
  });

  it('open with trusted-auth too: only the keystone flavour asks this surface for identity', async function () {
    const app = await startTestApp(TRUSTED);
    apps.push(app);
    await register(app, minimal());
    assert.equal((await app.http.get('/v2/images')).status, 401, 'Glance still requires the identity headers');
  });

  describe('keystone flavour', function () {
    let app: TestApp;
    const keystone = new FakeKeystone();
    before(async function () {
      app = await startTestApp(KEYSTONE_INI, {}, { keystoneAuthenticator: () => keystone });
      apps.push(app);
    });

    it('no token or a bad one → 401 envelope with WWW-Authenticate; nothing is registered', async function () {
      const body = minimal();
      for (const headers of [{}, { 'X-Auth-Token': 'bad' }] as Array<Record<string, string>>) {
        const res = await post(app, '_register', body, { headers });
        assert.equal(res.headers['www-authenticate'], CHALLENGE);
        assert.equal(envelope(res, 401).status, '-1');
      }
      const search = await post(app, '_search', { searchCondition: body.imageName }, { headers: { 'X-Auth-Token': 'good' } });
      assert.deepEqual((expectOutcome(search, '0').res as { data: unknown }).data, 'no such results');
    });

    it('a valid token → the operation runs; userResult still decides what _delete may touch', async function () {
      const headers = { 'X-Auth-Token': 'good' };
      const body = minimal({ imageName: 'team-a/model' });
      expectOutcome(await post(app, '_register', body, { headers }), '0', '注册成功');
      const found = expectOutcome(await post(app, '_search', { namespace: 'team-a' }, { headers }), '0');
      const id = ((found.res as { data: Array<{ imageId: string }> }).data[0] ?? { imageId: '' }).imageId;
      expectOutcome(await post(app, '_delete', { imageId: id, userResult: { authority: '3', namespace: 'team-b' } }, { headers }), '240', '权限异常');
      expectOutcome(await post(app, '_delete', { imageId: id, userResult: { authority: '3', namespace: 'team-a' } }, { headers }), '0', '删除成功');
      assert.ok(keystone.calls >= 4);
    });
  });
});
