import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Context } from 'koa';
import type { KeystoneConfig } from '../../src/config/types';
import { isGlintError } from '../../src/domain/errors';
import { KeystoneAuthenticator } from '../../src/http/keystone';
import { createLogger } from '../../src/lib/logger';
import { startTestApp, type TestApp } from '../support/app';
import { authtokenIni, startKeystone, type TestKeystone, type UserKey } from '../support/keystone';
import { freePort, startGlintProcess } from '../support/process';

/**
 * The keystone flavour against a real Keystone (Debian's package under uwsgi, see
 * test/support/keystone.ts): token validation, caching, failure modes, and Glance's legacy
 * owner/admin rules (spec §3, §15) with real tokens of users in two projects.
 */

const REQUEST_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RAW_BARE = { disk_format: 'raw', container_format: 'bare' };
const PATCH = { 'Content-Type': 'application/openstack-images-v2.1-json-patch' };
const OCTET = { 'Content-Type': 'application/octet-stream' };

const keystoneIni = authtokenIni;

const MULTI_STORE = [
  '[DEFAULT]',
  'enabled_backends = fast:file, cold:file',
  '[glance_store]',
  'default_backend = fast',
  '[fast]',
  'filesystem_store_datadir = {dir}/fast',
  '[cold]',
  'filesystem_store_datadir = {dir}/cold',
].join('\n');

function keystoneConfig(ks: TestKeystone, overrides: Partial<KeystoneConfig> = {}): KeystoneConfig {
  return {
    wwwAuthenticateUri: ks.authUrl,
    authUrl: ks.url,
    username: ks.users.glint.name,
    password: ks.users.glint.password,
    projectName: 'service',
    userDomainName: 'Default',
    projectDomainName: 'Default',
    serviceTokenRolesRequired: false,
    tokenCacheTime: 300,
    ...overrides,
  };
}

/** Just enough of a Koa context for Authenticator.authenticate (it only reads headers). */
function fakeCtx(headers: Record<string, string>): Context {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { get: (name: string) => lower[name.toLowerCase()] ?? '' } as unknown as Context;
}

/** fetch that records what glint sends to Keystone. */
function recordingFetch(): { fetch: typeof fetch; calls: Array<{ method: string; url: string; authToken: string | null }> } {
  const calls: Array<{ method: string; url: string; authToken: string | null }> = [];
  return {
    calls,
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers);
      calls.push({ method: init?.method ?? 'GET', url: String(input), authToken: headers.get('x-auth-token') });
      return fetch(input, init);
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('keystone flavour against a real Keystone', function () {
  this.timeout(60_000);
  let ks: TestKeystone;
  let app: TestApp;
  const tokens = {} as Record<UserKey, string>;
  const auth = (user: UserKey) => ({ 'X-Auth-Token': tokens[user] });

  before(async function () {
    this.timeout(300_000);
    ks = await startKeystone();
    process.stdout.write(`      (Keystone harness ready in ${(ks.startupMs / 1000).toFixed(1)} s)\n`);
    // the policy tests below assert Glance's legacy rules (a reader may create); secure RBAC with
    // real tokens: test/integration/real-client-policy.test.ts
    app = await startTestApp(`${MULTI_STORE}\n${keystoneIni(ks)}[oslo_policy]\nenforce_new_defaults = false\n`);
    for (const user of ['adminA', 'memberA', 'readerA', 'memberB', 'adminB', 'glint'] as const) tokens[user] = await ks.token(user);
  });

  after(async function () {
    this.timeout(60_000);
    await app?.close();
    await ks?.stop();
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && ks) process.stderr.write(`${ks.logs()}\n`);
  });

  describe('authentication', function () {
    it('no token → 401 with WWW-Authenticate: Keystone uri=…', async function () {
      const res = await app.http.get('/v2/images').set('Accept', 'application/json');
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], `Keystone uri="${ks.authUrl}"`);
      assert.equal(res.body.code, '401 Unauthorized');
    });

    it('a garbage token, or a value that cannot be a token → 401 with WWW-Authenticate', async function () {
      for (const token of ['garbage', 'gAAAAABnot-a-fernet-token', 'x'.repeat(9000)]) {
        const res = await app.http.get('/v2/images').set('X-Auth-Token', token);
        assert.equal(res.status, 401, token.slice(0, 20));
        assert.equal(res.headers['www-authenticate'], `Keystone uri="${ks.authUrl}"`);
      }
    });

    it('a valid token → 200 with x-openstack-request-id', async function () {
      const res = await app.http.get('/v2/images').set(auth('memberA'));
      assert.equal(res.status, 200);
      assert.match(res.headers['x-openstack-request-id'], REQUEST_ID);
      assert.equal(res.headers['www-authenticate'], undefined);
    });

    it('the algoPlatform registry needs a valid token too: 401 envelope without one, its own envelope with one', async function () {
      const body = { imageName: 'algo/keystone', imageTag: '1.0', factory: 'f', algoName: 'a', algoType: '1' };
      const refused = await app.http.post('/algoPlatform/images/_register').send(body);
      assert.equal(refused.status, 401);
      assert.equal(refused.headers['www-authenticate'], `Keystone uri="${ks.authUrl}"`);
      assert.deepEqual(Object.keys(refused.body), ['status', 'res', 'msg']);
      const registered = await app.http.post('/algoPlatform/images/_register').set(auth('memberA')).send(body);
      assert.equal(registered.text, JSON.stringify({ status: '0', res: null, msg: '注册成功' }));
      const found = await app.http.post('/algoPlatform/images/_search').set(auth('readerA')).send({ namespace: 'algo/keystone' });
      assert.equal(found.body.res.data[0].imageName, 'algo/keystone');
    });

    it('X-Storage-Token is accepted when X-Auth-Token is absent', async function () {
      const res = await app.http.get('/v2/images').set('X-Storage-Token', tokens.memberA);
      assert.equal(res.status, 200);
    });

    it('an inbound X-OpenStack-Request-ID is adopted: abc → req-abc', async function () {
      const res = await app.http.get('/v2/images').set(auth('memberA')).set('X-OpenStack-Request-ID', 'abc');
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-openstack-request-id'], 'req-abc');
      const kept = await app.http.get('/v2/images').set(auth('memberA')).set('X-OpenStack-Request-ID', 'req-xyz');
      assert.equal(kept.headers['x-openstack-request-id'], 'req-xyz');
    });

    it('identity comes from the token only: spoofed X-Roles/X-Project-Id/X-Identity-Status are ignored', async function () {
      const spoof = {
        ...auth('memberA'),
        'X-Roles': 'admin',
        'X-Role': 'admin',
        'X-Project-Id': ks.projects.projB,
        'X-Tenant-Id': ks.projects.projB,
        'X-User-Id': 'someone-else',
        'X-Identity-Status': 'Confirmed',
      };
      const created = await app.http.post('/v2/images').set(spoof).send(RAW_BARE);
      assert.equal(created.status, 201);
      assert.equal(created.body.owner, ks.projects.projA, 'owner is the token project, not X-Project-Id');
      assert.equal((await app.http.post('/v2/images').set(spoof).send({ ...RAW_BARE, visibility: 'public' })).status, 403);
      assert.equal((await app.http.get('/v2/tasks').set(spoof)).status, 403);
      const theirs = await app.http.post('/v2/images').set(auth('memberB')).send(RAW_BARE);
      assert.equal((await app.http.get(`/v2/images/${theirs.body.id}`).set(spoof)).status, 404);
      // and without any token the spoofed headers get nothing
      const { 'X-Auth-Token': _dropped, ...headersOnly } = spoof;
      assert.equal((await app.http.get('/v2/images').set(headersOnly)).status, 401);
    });

    it('roles are lower-cased and admin comes from the role: an admin token may publicize', async function () {
      const res = await app.http.post('/v2/images').set(auth('adminA')).send({ ...RAW_BARE, visibility: 'public' });
      assert.equal(res.status, 201);
      assert.equal(res.body.owner, ks.projects.projA);
    });

    it('the healthcheck and version documents need no token', async function () {
      assert.equal((await app.http.get('/healthcheck')).status, 200);
      const versions = await app.http.get('/versions');
      assert.equal(versions.status, 200);
    });
  });

  describe('X-Service-Token', function () {
    let strict: TestApp;
    before(async function () {
      strict = await startTestApp(keystoneIni(ks, { rolesRequired: true }));
    });
    after(async () => strict?.close());

    it('is validated: an invalid service token rejects an otherwise valid request (401)', async function () {
      const res = await app.http.get('/v2/images').set({ ...auth('memberA'), 'X-Service-Token': 'garbage' });
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], `Keystone uri="${ks.authUrl}"`);
    });

    it('without service_token_roles_required any valid token passes as a service token', async function () {
      assert.equal((await app.http.get('/v2/images').set({ ...auth('memberA'), 'X-Service-Token': tokens.memberB })).status, 200);
      assert.equal((await app.http.get('/v2/images').set({ ...auth('memberA'), 'X-Service-Token': tokens.glint })).status, 200);
    });

    it('with service_token_roles_required the service token must carry the service role', async function () {
      assert.equal((await strict.http.get('/v2/images').set({ ...auth('memberA'), 'X-Service-Token': tokens.memberB })).status, 401);
      assert.equal((await strict.http.get('/v2/images').set({ ...auth('memberA'), 'X-Service-Token': tokens.adminB })).status, 401);
      const ok = await strict.http.get('/v2/images').set({ ...auth('memberA'), 'X-Service-Token': tokens.glint });
      assert.equal(ok.status, 200);
      // the identity is still the user's, not the service's
      const created = await strict.http.post('/v2/images').set({ ...auth('memberA'), 'X-Service-Token': tokens.glint }).send(RAW_BARE);
      assert.equal(created.body.owner, ks.projects.projA);
      assert.equal((await strict.http.get('/v2/images').set(auth('memberA'))).status, 200, 'a service token stays optional');
    });
  });

  describe('when Keystone cannot answer', function () {
    it('Keystone unreachable (closed port) → 503, never 200', async function () {
      const port = await freePort();
      const down = await startTestApp(keystoneIni(ks, { authUrl: `http://127.0.0.1:${port}` }));
      try {
        const res = await down.http.get('/v2/images').set(auth('memberA')).set('Accept', 'application/json');
        assert.equal(res.status, 503);
        assert.equal(res.body.code, '503 Service Unavailable');
        assert.equal(res.headers['www-authenticate'], undefined, 'WWW-Authenticate belongs on 401 only');
        assert.equal((await down.http.post('/v2/images').set(auth('adminA')).send(RAW_BARE)).status, 503);
        // a missing token is still the client's problem
        const missing = await down.http.get('/v2/images');
        assert.equal(missing.status, 401);
        assert.match(missing.headers['www-authenticate'] ?? '', /^Keystone uri="/);
      } finally {
        await down.close();
      }
    });

    it('Keystone answering 5xx → 503', async function () {
      const broken = createServer((_req, res) => {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end('{"error": {"code": 500}}');
      });
      const port = await listen(broken);
      const down = await startTestApp(keystoneIni(ks, { authUrl: `http://127.0.0.1:${port}/v3` }));
      try {
        assert.equal((await down.http.get('/v2/images').set(auth('memberA'))).status, 503);
      } finally {
        await down.close();
        broken.close();
      }
    });

    it('Keystone not answering at all → 503 after the timeout', async function () {
      const sockets = new Set<import('node:net').Socket>();
      const silent = createServer(() => {});
      silent.on('connection', (s) => sockets.add(s));
      const port = await listen(silent);
      const authenticator = new KeystoneAuthenticator(keystoneConfig(ks, { authUrl: `http://127.0.0.1:${port}` }), {
        timeoutMs: 300,
        logger: createLogger({ silent: true }),
      });
      const started = Date.now();
      try {
        await assert.rejects(authenticator.authenticate(fakeCtx(auth('memberA')), 'req-1'), (err) => isGlintError(err, 'IDENTITY_UNAVAILABLE'));
        assert.ok(Date.now() - started < 5000);
      } finally {
        for (const s of sockets) s.destroy();
        silent.close();
      }
    });

    it('wrong service-user credentials → 503 (glint cannot validate), not 200 and not 401', async function () {
      const wrong = await startTestApp(keystoneIni(ks, { password: 'not-the-password' }));
      try {
        assert.equal((await wrong.http.get('/v2/images').set(auth('memberA'))).status, 503);
      } finally {
        await wrong.close();
      }
    });
  });

  describe('a service user Keystone does not let validate tokens', function () {
    it('→ 503 (Keystone answers 403 to the validation), not 200 and not 401', async function () {
      const authenticator = new KeystoneAuthenticator(
        keystoneConfig(ks, { username: ks.users.memberB.name, password: ks.users.memberB.password, projectName: 'projB' }),
        { logger: createLogger({ silent: true }) },
      );
      await assert.rejects(authenticator.authenticate(fakeCtx(auth('memberA')), 'req-1'), (err) => isGlintError(err, 'IDENTITY_UNAVAILABLE'));
      // Keystone lets anyone validate their own token: that still works, and proves the setup
      const self = await authenticator.authenticate(fakeCtx({ 'X-Auth-Token': await ks.token('memberB') }), 'req-2');
      assert.equal(self.projectId, ks.projects.projB);
    });
  });

  describe('token lifetime and caching', function () {
    it('a revoked token stops working once token_cache_time has passed', async function () {
      const ttl = 2;
      const short = await startTestApp(keystoneIni(ks, { cacheTime: ttl }));
      try {
        const token = await ks.token('memberA');
        const adminToken = await ks.adminToken();
        const askedAt = Date.now();
        assert.equal((await short.http.get('/v2/images').set('X-Auth-Token', token)).status, 200);
        const res = await fetch(`${ks.authUrl}/auth/tokens`, { method: 'DELETE', headers: { 'X-Auth-Token': adminToken, 'X-Subject-Token': token } });
        assert.equal(res.status, 204);
        if (Date.now() - askedAt < ttl * 1000 - 500) {
          // still inside the cache window: the cached validation answers
          assert.equal((await short.http.get('/v2/images').set('X-Auth-Token', token)).status, 200);
        }
        // the window opened when glint asked Keystone, at the latest when the first response came
        await sleep(Math.max(0, askedAt + ttl * 1000 + 300 - Date.now()));
        const after = await short.http.get('/v2/images').set('X-Auth-Token', token);
        assert.equal(after.status, 401);
        assert.equal(after.headers['www-authenticate'], `Keystone uri="${ks.authUrl}"`);
      } finally {
        await short.close();
      }
    });

    it('an expired token → 401, even when cached with a longer token_cache_time; a service token may vouch for it', async function () {
      this.timeout(60_000);
      // token_cache_time 300 s: the cache must still drop the token at its expires_at.
      const token = await ks.token('memberB', { url: ks.shortUrl });
      const issuedAt = Date.now();
      assert.equal((await app.http.get('/v2/images').set('X-Auth-Token', token)).status, 200);
      await sleep(Math.max(0, issuedAt + ks.shortExpiration * 1000 + 1200 - Date.now()));
      const expired = await app.http.get('/v2/images').set('X-Auth-Token', token);
      assert.equal(expired.status, 401);
      assert.equal(expired.headers['www-authenticate'], `Keystone uri="${ks.authUrl}"`);
      // keystonemiddleware's allow_expired: a service token with the service role lets a
      // recently expired user token through (a long-running operation on behalf of the user).
      const vouched = await app.http.get('/v2/images').set({ 'X-Auth-Token': token, 'X-Service-Token': tokens.glint });
      assert.equal(vouched.status, 200);
      const notService = await app.http.get('/v2/images').set({ 'X-Auth-Token': token, 'X-Service-Token': tokens.memberA });
      assert.equal(notService.status, 401);
    });

    it('glint renews its own service token before it expires', async function () {
      this.timeout(60_000);
      // Against the short instance glint's own token lives ks.shortExpiration seconds too.
      const rec = recordingFetch();
      const authenticator = new KeystoneAuthenticator(keystoneConfig(ks, { authUrl: ks.shortUrl, tokenCacheTime: 0 }), {
        fetch: rec.fetch,
        logger: createLogger({ silent: true }),
      });
      const user = await ks.token('memberA');
      const deadline = Date.now() + (ks.shortExpiration + 2) * 1000;
      let validations = 0;
      while (Date.now() < deadline) {
        const ctx = await authenticator.authenticate(fakeCtx({ 'X-Auth-Token': user }), 'req-1');
        assert.equal(ctx.projectId, ks.projects.projA);
        validations++;
        await sleep(700);
      }
      const issued = rec.calls.filter((c) => c.method === 'POST');
      const used = new Set(rec.calls.filter((c) => c.method === 'GET').map((c) => c.authToken));
      assert.equal(rec.calls.filter((c) => c.method === 'GET').length, validations, 'token_cache_time = 0 caches nothing');
      assert.ok(issued.length >= 2, `the service token was renewed (${issued.length} issued)`);
      assert.ok(used.size >= 2, 'validations used the renewed token');
      // never a refused validation: renewal happened before expiry
      assert.equal(rec.calls.length, validations + issued.length);
    });

    it('glint gets a new service token once when Keystone refuses its current one (401)', async function () {
      const rec = recordingFetch();
      const authenticator = new KeystoneAuthenticator(keystoneConfig(ks), { fetch: rec.fetch, logger: createLogger({ silent: true }) });
      await authenticator.authenticate(fakeCtx(auth('memberA')), 'req-1');
      const own = rec.calls.find((c) => c.method === 'GET')?.authToken;
      assert.ok(own);
      await ks.revoke(own);
      const ctx = await authenticator.authenticate(fakeCtx(auth('memberB')), 'req-2');
      assert.equal(ctx.projectId, ks.projects.projB);
      assert.deepEqual(
        rec.calls.map((c) => c.method),
        ['POST', 'GET', 'GET', 'POST', 'GET'],
        'validate, refused (401), re-authenticate, validate again',
      );
      assert.notEqual(rec.calls[4].authToken, own);
    });

    it('caches validations: one Keystone call per token, concurrent requests share it, bounded LRU', async function () {
      const rec = recordingFetch();
      const authenticator = new KeystoneAuthenticator(keystoneConfig(ks), { fetch: rec.fetch, cacheSize: 2, logger: createLogger({ silent: true }) });
      const gets = () => rec.calls.filter((c) => c.method === 'GET').length;
      const validate = (user: UserKey) => authenticator.authenticate(fakeCtx(auth(user)), 'req-1');

      const parallel = await Promise.all([validate('memberA'), validate('memberA'), validate('memberA')]);
      assert.ok(parallel.every((c) => c.projectId === ks.projects.projA));
      assert.equal(gets(), 1, 'three concurrent requests, one validation');
      await validate('memberA');
      assert.equal(gets(), 1, 'cached');

      await validate('memberB');
      await validate('adminA'); // evicts memberA (cache of 2)
      assert.equal(gets(), 3);
      await validate('adminA');
      await validate('memberB');
      assert.equal(gets(), 3);
      await validate('memberA');
      assert.equal(gets(), 4, 'the least recently used entry was evicted');

      // invalid tokens are cached too, and stay invalid
      await assert.rejects(authenticator.authenticate(fakeCtx({ 'X-Auth-Token': 'nope' }), 'r'), (e) => isGlintError(e, 'UNAUTHENTICATED'));
      await assert.rejects(authenticator.authenticate(fakeCtx({ 'X-Auth-Token': 'nope' }), 'r'), (e) => isGlintError(e, 'UNAUTHENTICATED'));
      assert.equal(gets(), 5);
    });

    it('the context carries user, project and lower-cased roles from the token', async function () {
      const authenticator = new KeystoneAuthenticator(keystoneConfig(ks), { logger: createLogger({ silent: true }) });
      const admin = await authenticator.authenticate(fakeCtx(auth('adminA')), 'req-a');
      assert.equal(admin.userId, ks.users.adminA.id);
      assert.equal(admin.projectId, ks.projects.projA);
      assert.ok(admin.isAdmin);
      assert.ok(admin.roles.includes('admin'));
      const reader = await authenticator.authenticate(fakeCtx({ 'X-Auth-Token': tokens.readerA, 'X-Roles': 'admin' }), 'req-r');
      assert.deepEqual([...reader.roles], ['reader']);
      assert.equal(reader.isAdmin, false);
      assert.equal(reader.requestId, 'req-r');
    });
  });

  describe("Glance's legacy policy with real tokens (§3.2, §15)", function () {
    const create = async (user: UserKey, body: Record<string, unknown> = {}) => {
      const res = await app.http.post('/v2/images').set(auth(user)).send({ ...RAW_BARE, ...body });
      assert.equal(res.status, 201, `create as ${user}: ${res.status} ${res.text}`);
      return res.body as { id: string; owner: string; visibility: string };
    };
    const uploaded = async (user: UserKey, body: Record<string, unknown> = {}) => {
      const image = await create(user, body);
      const put = await app.http.put(`/v2/images/${image.id}/file`).set({ ...auth(user), ...OCTET }).send(Buffer.from('image-bytes'));
      assert.equal(put.status, 204, put.text);
      return image;
    };

    it('owner defaults to the caller project', async function () {
      assert.equal((await create('memberA')).owner, ks.projects.projA);
      assert.equal((await create('memberB')).owner, ks.projects.projB);
      assert.equal((await create('adminA')).owner, ks.projects.projA);
    });

    it("another project's private image is invisible: 404 on GET, PATCH, DELETE, upload, tags, members", async function () {
      const image = await create('memberA', { tags: ['t'] });
      const B = auth('memberB');
      const id = image.id;
      const calls: Array<[string, () => Promise<{ status: number }>]> = [
        ['GET', () => app.http.get(`/v2/images/${id}`).set(B)],
        ['PATCH', () => app.http.patch(`/v2/images/${id}`).set({ ...B, ...PATCH }).send(JSON.stringify([{ op: 'replace', path: '/name', value: 'x' }]))],
        ['DELETE', () => app.http.delete(`/v2/images/${id}`).set(B)],
        ['PUT file', () => app.http.put(`/v2/images/${id}/file`).set({ ...B, ...OCTET }).send(Buffer.from('x'))],
        ['GET file', () => app.http.get(`/v2/images/${id}/file`).set(B)],
        ['PUT tag', () => app.http.put(`/v2/images/${id}/tags/new`).set(B)],
        ['DELETE tag', () => app.http.delete(`/v2/images/${id}/tags/t`).set(B)],
        ['GET members', () => app.http.get(`/v2/images/${id}/members`).set(B)],
        ['POST members', () => app.http.post(`/v2/images/${id}/members`).set(B).send({ member: ks.projects.projB })],
      ];
      for (const [label, call] of calls) assert.equal((await call()).status, 404, label);
      const list = await app.http.get('/v2/images').set(B);
      assert.ok(!(list.body.images as Array<{ id: string }>).some((i) => i.id === id));
      // the owner's image is intact and the admin of another project sees it
      const mine = await app.http.get(`/v2/images/${id}`).set(auth('memberA'));
      assert.equal(mine.status, 200);
      assert.deepEqual(mine.body.tags, ['t']);
      assert.equal((await app.http.get(`/v2/images/${id}`).set(auth('adminB'))).status, 200);
    });

    it("a public image of another project is visible but PATCH/DELETE/upload/deactivate/tags → 403", async function () {
      const image = await uploaded('adminA', { visibility: 'public', tags: ['t'] });
      const B = auth('memberB');
      const id = image.id;
      assert.equal((await app.http.get(`/v2/images/${id}`).set(B)).status, 200);
      const download = await app.http.get(`/v2/images/${id}/file`).set(B);
      assert.equal(download.status, 200);
      const calls: Array<[string, () => Promise<{ status: number }>]> = [
        ['PATCH', () => app.http.patch(`/v2/images/${id}`).set({ ...B, ...PATCH }).send(JSON.stringify([{ op: 'replace', path: '/name', value: 'x' }]))],
        ['DELETE', () => app.http.delete(`/v2/images/${id}`).set(B)],
        ['PUT file', () => app.http.put(`/v2/images/${id}/file`).set({ ...B, ...OCTET }).send(Buffer.from('x'))],
        ['deactivate', () => app.http.post(`/v2/images/${id}/actions/deactivate`).set(B)],
        ['PUT tag', () => app.http.put(`/v2/images/${id}/tags/new`).set(B)],
        ['DELETE tag', () => app.http.delete(`/v2/images/${id}/tags/t`).set(B)],
      ];
      for (const [label, call] of calls) assert.equal((await call()).status, 403, label);
      const after = await app.http.get(`/v2/images/${id}`).set(auth('adminA'));
      assert.equal(after.body.status, 'active');
      assert.deepEqual(after.body.tags, ['t']);
    });

    it('visibility public needs admin: 403 for member (create and PATCH), OK for admin', async function () {
      assert.equal((await app.http.post('/v2/images').set(auth('memberA')).send({ ...RAW_BARE, visibility: 'public' })).status, 403);
      const image = await create('memberA');
      const op = JSON.stringify([{ op: 'replace', path: '/visibility', value: 'public' }]);
      assert.equal((await app.http.patch(`/v2/images/${image.id}`).set({ ...auth('memberA'), ...PATCH }).send(op)).status, 403);
      const byAdmin = await app.http.patch(`/v2/images/${image.id}`).set({ ...auth('adminB'), ...PATCH }).send(op);
      assert.equal(byAdmin.status, 200);
      assert.equal(byAdmin.body.visibility, 'public');
      for (const visibility of ['community', 'shared', 'private']) {
        const ok = await app.http.patch(`/v2/images/${image.id}`).set({ ...auth('memberA'), ...PATCH }).send(JSON.stringify([{ op: 'replace', path: '/visibility', value: visibility }]));
        assert.equal(ok.status, 200, visibility);
      }
    });

    it('changing owner needs admin; creating with a foreign owner needs admin', async function () {
      const image = await create('memberA');
      const op = JSON.stringify([{ op: 'replace', path: '/owner', value: ks.projects.projB }]);
      assert.equal((await app.http.patch(`/v2/images/${image.id}`).set({ ...auth('memberA'), ...PATCH }).send(op)).status, 403);
      const byAdmin = await app.http.patch(`/v2/images/${image.id}`).set({ ...auth('adminA'), ...PATCH }).send(op);
      assert.equal(byAdmin.status, 200);
      assert.equal(byAdmin.body.owner, ks.projects.projB);

      assert.equal((await app.http.post('/v2/images').set(auth('memberA')).send({ ...RAW_BARE, owner: ks.projects.projB })).status, 403);
      const foreign = await create('adminA', { owner: ks.projects.projB });
      assert.equal(foreign.owner, ks.projects.projB);
      // own project as owner is fine for anyone
      assert.equal((await create('memberA', { owner: ks.projects.projA })).owner, ks.projects.projA);
    });

    it('shared image: the member project sees it by member_status, accepts/rejects it; owner may not set status; member may not add members', async function () {
      const image = await create('memberA', { visibility: 'shared', name: 'shared-with-b' });
      const id = image.id;
      const B = auth('memberB');
      const projB = ks.projects.projB;
      const added = await app.http.post(`/v2/images/${id}/members`).set(auth('memberA')).send({ member: projB });
      assert.equal(added.status, 200);
      assert.equal(added.body.status, 'pending');

      const listIds = async (query: string) => {
        const res = await app.http.get(`/v2/images${query}`).set(B);
        assert.equal(res.status, 200, res.text);
        return (res.body.images as Array<{ id: string }>).map((i) => i.id);
      };
      assert.ok(!(await listIds('')).includes(id), 'pending: not in the default list');
      assert.ok((await listIds('?member_status=pending')).includes(id));
      assert.ok((await listIds('?visibility=shared&member_status=all')).includes(id));
      assert.equal((await app.http.get(`/v2/images/${id}`).set(B)).status, 200, 'a member sees the image in any status');

      // the member sees only its own entry
      const members = await app.http.get(`/v2/images/${id}/members`).set(B);
      assert.equal(members.status, 200);
      assert.deepEqual((members.body.members as Array<{ member_id: string }>).map((m) => m.member_id), [projB]);

      // the owner may not decide for the member
      assert.equal((await app.http.put(`/v2/images/${id}/members/${projB}`).set(auth('memberA')).send({ status: 'accepted' })).status, 403);
      // the member may not add members
      assert.equal((await app.http.post(`/v2/images/${id}/members`).set(B).send({ member: ks.projects.service })).status, 403);

      const accepted = await app.http.put(`/v2/images/${id}/members/${projB}`).set(B).send({ status: 'accepted' });
      assert.equal(accepted.status, 200);
      assert.equal(accepted.body.status, 'accepted');
      assert.ok((await listIds('')).includes(id), 'accepted: in the default list');

      const rejected = await app.http.put(`/v2/images/${id}/members/${projB}`).set(B).send({ status: 'rejected' });
      assert.equal(rejected.status, 200);
      assert.ok(!(await listIds('')).includes(id));
      assert.ok((await listIds('?member_status=rejected')).includes(id));
      // still a member: may still modify nothing
      assert.equal(
        (await app.http.patch(`/v2/images/${id}`).set({ ...B, ...PATCH }).send(JSON.stringify([{ op: 'replace', path: '/name', value: 'x' }]))).status,
        403,
      );
      // admin may change a member's status
      assert.equal((await app.http.put(`/v2/images/${id}/members/${projB}`).set(auth('adminA')).send({ status: 'pending' })).status, 200);
    });

    it('a deactivated image: download by non-admin → 403, by admin → 200', async function () {
      const image = await uploaded('memberA');
      assert.equal((await app.http.post(`/v2/images/${image.id}/actions/deactivate`).set(auth('memberA'))).status, 204);
      assert.equal((await app.http.get(`/v2/images/${image.id}/file`).set(auth('memberA'))).status, 403);
      const byAdmin = await app.http
        .get(`/v2/images/${image.id}/file`)
        .set(auth('adminB'))
        .buffer(true)
        .parse((res, callback) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => callback(null, Buffer.concat(chunks)));
        });
      assert.equal(byAdmin.status, 200);
      assert.equal((byAdmin.body as Buffer).toString(), 'image-bytes');
      assert.equal((await app.http.post(`/v2/images/${image.id}/actions/reactivate`).set(auth('memberA'))).status, 204);
      assert.equal((await app.http.get(`/v2/images/${image.id}/file`).set(auth('memberA'))).status, 200);
    });

    it('/v2/info/stores/detail and /v2/tasks are admin only', async function () {
      assert.equal((await app.http.get('/v2/info/stores').set(auth('memberA'))).status, 200);
      assert.equal((await app.http.get('/v2/info/stores/detail').set(auth('memberA'))).status, 403);
      const detail = await app.http.get('/v2/info/stores/detail').set(auth('adminA'));
      assert.equal(detail.status, 200);
      assert.deepEqual((detail.body.stores as Array<{ id: string }>).map((s) => s.id).sort(), ['cold', 'fast']);
      assert.equal((await app.http.get('/v2/tasks').set(auth('memberA'))).status, 403);
      assert.equal((await app.http.get('/v2/tasks').set(auth('readerA'))).status, 403);
      assert.equal((await app.http.get('/v2/tasks').set(auth('adminA'))).status, 200);
    });

    it('a reader-only user can still create and upload images (legacy defaults)', async function () {
      const image = await uploaded('readerA', { name: 'by-reader' });
      assert.equal(image.owner, ks.projects.projA);
      // and the members of the same project can manage it (owner = project)
      const op = JSON.stringify([{ op: 'replace', path: '/name', value: 'renamed' }]);
      assert.equal((await app.http.patch(`/v2/images/${image.id}`).set({ ...auth('memberA'), ...PATCH }).send(op)).status, 200);
      assert.equal((await app.http.delete(`/v2/images/${image.id}`).set(auth('readerA'))).status, 204);
    });
  });

  describe('the openstack client through the Keystone catalog', function () {
    let dir: string;
    let glint: Awaited<ReturnType<typeof startGlintProcess>> | undefined;

    before(async function () {
      this.timeout(90_000);
      dir = mkdtempSync(path.join(tmpdir(), 'glint-osc-'));
      const conf = path.join(dir, 'glint.conf');
      const ini =
        `[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = ${ks.imagePort}\n` +
        `[database]\nconnection = sqlite:///${path.join(dir, 'glint.db')}\n` +
        `[glance_store]\nfilesystem_store_datadir = ${path.join(dir, 'images')}\n` +
        keystoneIni(ks);
      writeFileSync(conf, ini);
      glint = await startGlintProcess(['--config-file', conf], { cwd: dir, port: ks.imagePort });
    });

    after(async function () {
      await glint?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** Runs `openstack <args>` as mike-member@projA; resolves with stdout, rejects with output. */
    const openstack = (args: string[]) => {
      const user = ks.users.memberA;
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, LANG: 'C.UTF-8', PYTHONWARNINGS: 'ignore' };
      const argv = [
        '--os-auth-url', ks.authUrl,
        '--os-identity-api-version', '3',
        '--os-username', user.name,
        '--os-password', user.password,
        '--os-project-name', user.projectName,
        '--os-user-domain-name', 'Default',
        '--os-project-domain-name', 'Default',
        '--os-region-name', 'RegionOne',
        '--os-interface', 'public',
        '--os-image-api-version', '2',
        ...args,
      ];
      return new Promise<string>((resolve, reject) => {
        execFile('openstack', argv, { env, cwd: dir, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`openstack ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}\n--- glint ---\n${glint?.output()}`));
          else resolve(stdout);
        });
      });
    };

    it('image create --file / list / save / delete work with a real token and the catalog endpoint', async function () {
      this.timeout(240_000);
      const file = path.join(dir, 'cirros.img');
      const data = Buffer.from(`pretend this is a disk image ${Date.now()}\n`.repeat(1000));
      writeFileSync(file, data);

      const created = JSON.parse(
        await openstack(['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', file, '-f', 'json', 'osc-image']),
      ) as { id: string; owner: string; status: string; name: string };
      assert.equal(created.name, 'osc-image');
      assert.equal(created.owner, ks.projects.projA);
      // OSC prints the image as created, before the upload; show it again
      const shown = JSON.parse(await openstack(['image', 'show', '-f', 'json', created.id])) as { status: string; size: number; checksum: string };
      assert.equal(shown.status, 'active');
      assert.equal(shown.size, data.length);
      assert.equal(shown.checksum, createHash('md5').update(data).digest('hex'));

      const listed = JSON.parse(await openstack(['image', 'list', '-f', 'json'])) as Array<{ ID: string; Name: string }>;
      assert.ok(listed.some((i) => i.ID === created.id && i.Name === 'osc-image'), JSON.stringify(listed));

      const saved = path.join(dir, 'saved.img');
      await openstack(['image', 'save', '--file', saved, created.id]);
      assert.ok(readFileSync(saved).equals(data), 'downloaded bytes equal uploaded bytes');

      await openstack(['image', 'delete', created.id]);
      const after = JSON.parse(await openstack(['image', 'list', '-f', 'json'])) as Array<{ ID: string }>;
      assert.ok(!after.some((i) => i.ID === created.id));
      // the request log: one JSON event per request, with the caller's identity from the token
      assert.match(glint?.output() ?? '', /"route":"\/v2\/images","method":"POST","path":"\/v2\/images","status":201,.*"user":"[0-9a-f]{32}","project":"[0-9a-f]{32}"/);
    });
  });
});
