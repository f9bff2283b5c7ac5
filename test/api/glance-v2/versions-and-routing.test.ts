import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../../support/app';
import { createImage, REQUEST_ID } from './support/harness';

describe('Glance v2: versions, healthcheck and routing', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp();
  });
  after(async function () {
    await app.close();
  });

  describe('versions document (§4)', function () {
    it('#1 GET / → 300 and GET /versions → 200 with the same document, v2.17 CURRENT in Glance 2024.2+\'s order, hrefs ending /v2/, no request id', async function () {
      const root = await app.http.get('/').set('Host', 'glint.test:9292');
      const versions = await app.http.get('/versions').set('Host', 'glint.test:9292');
      assert.equal(root.status, 300);
      assert.equal(versions.status, 200);
      assert.equal(root.headers['content-type'], 'application/json');
      assert.equal(versions.headers['content-type'], 'application/json');
      assert.deepEqual(root.body, versions.body);
      const list = versions.body.versions as Array<{ id: string; status: string; links: Array<{ rel: string; href: string }> }>;
      assert.deepEqual(
        list.map((v) => v.id),
        ['v2.15', 'v2.9', 'v2.17', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'],
      );
      assert.deepEqual(list.filter((v) => v.status === 'CURRENT').map((v) => v.id), ['v2.17']);
      assert.ok(list.every((v) => v.id === 'v2.17' || v.status === 'SUPPORTED'));
      for (const v of list) {
        assert.equal(v.links.length, 1);
        assert.equal(v.links[0].rel, 'self');
        assert.equal(v.links[0].href, 'http://glint.test:9292/v2/');
      }
      assert.equal(root.headers['x-openstack-request-id'], undefined);
      assert.equal(versions.headers['x-openstack-request-id'], undefined);
    });

    it('#1 /versions/anything with any method → 200 versions', async function () {
      const res = await app.http.post('/versions/whatever');
      assert.equal(res.status, 200);
      assert.equal(res.body.versions[0].id, 'v2.15');
    });

    it('#2 GET /v2.15/images behaves like GET /v2/images', async function () {
      const image = await createImage(app, { name: 'minor-version' });
      const plain = await app.http.get('/v2/images');
      const minor = await app.http.get('/v2.15/images');
      assert.equal(minor.status, 200);
      assert.deepEqual(
        minor.body.images.map((i: { id: string }) => i.id),
        plain.body.images.map((i: { id: string }) => i.id),
      );
      assert.ok(minor.body.images.some((i: { id: string }) => i.id === image.id));
      assert.equal(minor.body.first, '/v2/images');
      const one = await app.http.get(`/v2.0/images/${image.id as string}`);
      assert.equal(one.status, 200);
      assert.equal(one.body.self, `/v2/images/${image.id as string}`);
    });

    it('#2 GET /v1/images, /v3, /V2/images and /v2.8/images (single store) → 300 versions document', async function () {
      for (const path of ['/v1/images', '/v3', '/V2/images', '/v2.8/images']) {
        const res = await app.http.get(path);
        assert.equal(res.status, 300, path);
        assert.equal(res.body.versions[0].id, 'v2.15', path);
      }
    });

    it('Accept: application/vnd.openstack.images-v2 selects v2 for an unversioned path', async function () {
      const res = await app.http.get('/images').set('Accept', 'application/vnd.openstack.images-v2');
      assert.equal(res.status, 200);
      assert.ok(Array.isArray(res.body.images));
    });

    it('multi-store advertises v2.8 and v2.10–v2.13 and routes /v2.12/…', async function () {
      const multi = await startTestApp('[DEFAULT]\nenabled_backends = a:file, b:file\n[glance_store]\ndefault_backend = a\n[a]\nfilesystem_store_datadir = {dir}/a\n[b]\nfilesystem_store_datadir = {dir}/b\n');
      try {
        const res = await multi.http.get('/versions');
        const ids = res.body.versions.map((v: { id: string }) => v.id);
        for (const id of ['v2.15', 'v2.13', 'v2.12', 'v2.11', 'v2.10', 'v2.8']) assert.ok(ids.includes(id), id);
        assert.equal((await multi.http.get('/v2.12/images')).status, 200);
      } finally {
        await multi.close();
      }
    });

    it('public_endpoint replaces the request host in version links', async function () {
      const pub = await startTestApp('[DEFAULT]\npublic_endpoint = https://images.example.com/\n');
      try {
        const res = await pub.http.get('/versions');
        assert.equal(res.body.versions[0].links[0].href, 'https://images.example.com/v2/');
      } finally {
        await pub.close();
      }
    });
  });

  describe('healthcheck and OPTIONS (§1.1, §1.2, §0.8)', function () {
    it('#3 GET /healthcheck → 200 text/plain OK without credentials or request id', async function () {
      const res = await app.http.get('/healthcheck');
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type'], /^text\/plain/);
      assert.equal(res.text, 'OK');
      assert.equal(res.headers['x-openstack-request-id'], undefined);
    });

    it('#3 GET /healthcheck works in the trusted-auth flavour without identity headers; HEAD → 204', async function () {
      const trusted = await startTestApp('[paste_deploy]\nflavor = trusted-auth\n');
      try {
        const res = await trusted.http.get('/healthcheck');
        assert.equal(res.status, 200);
        assert.equal(res.text, 'OK');
        assert.equal((await trusted.http.get('/v2/images')).status, 401);
        assert.equal((await trusted.http.head('/healthcheck')).status, 204);
      } finally {
        await trusted.close();
      }
    });

    it('OPTIONS on any path → 200 with an empty body', async function () {
      for (const path of ['/v2/images', '/anything']) {
        const res = await app.http.options(path);
        assert.equal(res.status, 200, path);
        assert.equal(res.text, '', path);
      }
    });
  });

  describe('routing (§1.3, §1.4)', function () {
    it('#6 unknown /v2/foo → 404 with a request id', async function () {
      const res = await app.http.get('/v2/foo');
      assert.equal(res.status, 404);
      assert.match(res.headers['x-openstack-request-id'], REQUEST_ID);
    });

    it('#6 trailing slash /v2/images/ → 404', async function () {
      assert.equal((await app.http.get('/v2/images/')).status, 404);
    });

    it('#6 PUT /v2/images → 405 Allow: GET, POST', async function () {
      const res = await app.http.put('/v2/images');
      assert.equal(res.status, 405);
      assert.equal(res.headers.allow, 'GET, POST');
      assert.match(res.headers['x-openstack-request-id'], REQUEST_ID);
    });

    it('#6 HEAD /v2/images/{id} → 405 Allow: GET, PATCH, DELETE', async function () {
      const image = await createImage(app);
      const res = await app.http.head(`/v2/images/${image.id as string}`);
      assert.equal(res.status, 405);
      assert.equal(res.headers.allow, 'GET, PATCH, DELETE');
    });

    it('405 Allow values for the other routes', async function () {
      const id = '8a9b2e4c-1f5d-4a3b-9c7d-2e6f8a1b3c5d';
      const cases: Array<[string, 'post' | 'patch' | 'delete' | 'put' | 'get', string]> = [
        [`/v2/images/${id}/file`, 'post', 'GET, PUT'],
        [`/v2/images/${id}/stage`, 'get', 'PUT'],
        [`/v2/images/${id}/import`, 'get', 'POST'],
        [`/v2/images/${id}/actions/deactivate`, 'get', 'POST'],
        [`/v2/images/${id}/actions/reactivate`, 'put', 'POST'],
        [`/v2/images/${id}/tags/t`, 'get', 'PUT, DELETE'],
        [`/v2/images/${id}/members`, 'delete', 'GET, POST'],
        [`/v2/images/${id}/members/p`, 'post', 'GET, PUT, DELETE'],
        [`/v2/stores/fast/${id}`, 'get', 'DELETE'],
        ['/v2/schemas/image', 'post', 'GET'],
        ['/v2/info/import', 'post', 'GET'],
        ['/v2/tasks', 'delete', 'GET, POST'],
      ];
      for (const [path, method, allow] of cases) {
        const res = await app.http[method](path);
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.equal(res.headers.allow, allow, `${method} ${path}`);
      }
    });

    it('an unknown path with a non-standard verb → 501; a known path with one → 405', async function () {
      const unknown = await app.http.copy('/v2/nothing-here');
      assert.equal(unknown.status, 501);
      const known = await app.http.copy('/v2/images');
      assert.equal(known.status, 405);
      assert.equal(known.headers.allow, 'GET, POST');
    });

    it('invalid UTF-8 in the URL → 400, not 500 (§0.6)', async function () {
      const res = await app.http.get('/v2/images/%ff');
      assert.equal(res.status, 400);
    });

    it('a non-UUID image id is a plain 404 (openstacksdk looks names up by id first)', async function () {
      const res = await app.http.get('/v2/images/my-image-name');
      assert.equal(res.status, 404);
      const long = await app.http.get(`/v2/images/${'a'.repeat(300)}`);
      assert.equal(long.status, 404);
    });
  });

  describe('#67 request bodies on body-less routes → 400', function () {
    it('#67 GET/DELETE on image, member, tag, schema, info and store routes with a body → 400', async function () {
      const image = await createImage(app, { visibility: 'shared' });
      const id = image.id as string;
      const cases: Array<['get' | 'delete' | 'put' | 'post', string]> = [
        ['get', `/v2/images/${id}`],
        ['delete', `/v2/images/${id}`],
        ['get', `/v2/images/${id}/file`],
        ['get', `/v2/images/${id}/members`],
        ['get', `/v2/images/${id}/members/proj`],
        ['delete', `/v2/images/${id}/members/proj`],
        ['put', `/v2/images/${id}/tags/t1`],
        ['delete', `/v2/images/${id}/tags/t1`],
        ['post', `/v2/images/${id}/actions/deactivate`],
        ['post', `/v2/images/${id}/actions/reactivate`],
        ['get', '/v2/schemas/image'],
        ['get', '/v2/schemas/images'],
        ['get', '/v2/info/import'],
        ['get', '/v2/info/stores'],
        ['delete', `/v2/stores/fast/${id}`],
      ];
      for (const [method, path] of cases) {
        const res = await app.http[method](path).set('Content-Type', 'application/json').send('{"a": 1}');
        assert.equal(res.status, 400, `${method} ${path}: ${res.status} ${res.text}`);
      }
      // and nothing happened: the image is still there, untagged
      const after = await app.http.get(`/v2/images/${id}`);
      assert.equal(after.status, 200);
      assert.deepEqual(after.body.tags, []);
    });

    it('#67 a body-less POST with Content-Length: 0 and an octet-stream type is fine', async function () {
      const image = await createImage(app);
      const res = await app.http.post(`/v2/images/${image.id as string}/actions/deactivate`).set({ 'Content-Type': 'application/octet-stream', 'Content-Length': '0' });
      assert.equal(res.status, 403); // queued images cannot be deactivated: the body rule did not fire
    });

    it('GET /v2/images (list) with a body → 200, body ignored; GET /v2/info/usage with a body → 400 (§0.5)', async function () {
      const list = await app.http.get('/v2/images').set('Content-Type', 'application/json').send('{"a": 1}');
      assert.equal(list.status, 200);
      const usage = await app.http.get('/v2/info/usage').set('Content-Type', 'application/json').send('{"a": 1}');
      assert.equal(usage.status, 400);
      const plainUsage = await app.http.get('/v2/info/usage');
      assert.equal(plainUsage.status, 200);
      assert.deepEqual(plainUsage.body, { usage: {} });
    });
  });
});
