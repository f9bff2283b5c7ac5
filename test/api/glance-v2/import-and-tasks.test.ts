import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import {
  activeImage,
  assertNoDataFor,
  bytes,
  createImage,
  download,
  forEachStore,
  getImage,
  md5,
  RAW_BARE,
  REQUEST_ID,
  sha512,
  stage,
  storeKeys,
  upload,
  waitForImage,
  type StoreVariant,
} from './support/harness';

/** A loopback HTTP server for web-download: `/data` serves `content`; `/slow` holds until released. */
interface Origin {
  port: number;
  url(path: string): string;
  release(): void;
  close(): Promise<void>;
}

async function startOrigin(content: Buffer): Promise<Origin> {
  let releaseSlow: () => void = () => {};
  const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
  const server: Server = createServer((req, res) => {
    if (req.url === '/data') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': content.length });
      res.end(content);
    } else if (req.url === '/slow') {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.write(content.subarray(0, 10));
      void slowGate.then(() => res.end(content.subarray(10)));
    } else {
      res.writeHead(404);
      res.end('missing');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    release: () => releaseSlow(),
    close: () =>
      new Promise((resolve) => {
        releaseSlow();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const importing = (app: TestApp, id: string, body: unknown, headers: Record<string, string> = {}) =>
  app.http.post(`/v2/images/${id}/import`).set(headers).send(body as object);

forEachStore('Glance v2: staging and interoperable import', (variant: StoreVariant) => {
  let app: TestApp;
  let origin: Origin;
  const webData = bytes(70_000);
  before(async function () {
    origin = await startOrigin(webData);
    app = await variant.start({
      sections: `[import_filtering_opts]\nallowed_hosts = 127.0.0.1\nallowed_ports = 80,443,${origin.port}\n`,
    });
  });
  after(async function () {
    await origin.close();
    await app.close();
  });

  it('#62 PUT /stage on a queued image → 204, status uploading, size = staged bytes, checksum null', async function () {
    const data = bytes(5000);
    const id = (await createImage(app, {})).id as string;
    const res = await stage(app, id, data);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    const image = await getImage(app, id);
    assert.equal(image.status, 'uploading');
    assert.equal(image.size, data.length);
    assert.equal(image.checksum, null);
    assert.equal(image.os_hash_value, null);
    assert.ok((await storeKeys(app.app, variant.storeId)).some((k) => k.includes(id)), 'the bytes are staged in the store');
  });

  it('#62 a second stage → 409; PUT /file on an uploading image → 409; stage with a bad Content-Type → 415', async function () {
    const id = (await createImage(app)).id as string;
    assert.equal((await app.http.put(`/v2/images/${id}/stage`).set('Content-Type', 'text/plain').send('x')).status, 415);
    assert.equal((await stage(app, id, Buffer.from('one'))).status, 204);
    assert.equal((await stage(app, id, Buffer.from('two'))).status, 409);
    assert.equal((await upload(app, id, Buffer.from('three'))).status, 409);
    const image = await getImage(app, id);
    assert.equal(image.status, 'uploading');
    assert.equal(image.size, 3);
  });

  it('#62 stage needs no formats', async function () {
    const id = (await createImage(app, {})).id as string;
    assert.equal((await stage(app, id, Buffer.from('no formats'))).status, 204);
  });

  it('#63 glance-direct on an uploading image → 202 empty body; later active with hashes and empty os_glance_* progress', async function () {
    const data = bytes(123_456);
    const id = (await createImage(app)).id as string;
    assert.equal((await stage(app, id, data)).status, 204);
    const res = await importing(app, id, { method: { name: 'glance-direct' } });
    assert.equal(res.status, 202);
    assert.equal(res.text, '');
    assert.match(res.headers['x-openstack-request-id'], REQUEST_ID);
    const image = await waitForImage(app, id, (i) => i.status === 'active');
    assert.equal(image.size, data.length);
    assert.equal(image.checksum, md5(data));
    assert.equal(image.os_hash_algo, 'sha512');
    assert.equal(image.os_hash_value, sha512(data));
    assert.equal(image.virtual_size, data.length);
    assert.equal(image.os_glance_importing_to_stores, '');
    assert.equal(image.os_glance_failed_import, '');
    assert.ok(!('os_glance_import_task' in image), 'the import lock is released');
    assert.ok(!('os_glance_stage_host' in image));
    assert.ok(((await download(app, id)).body as Buffer).equals(data));
    const keys = await storeKeys(app.app, variant.storeId);
    assert.deepEqual(keys.filter((k) => k.includes(id)), [id], 'staged data removed after the import');
  });

  it('#63 the unauthenticated flavour completes a glance-direct import (§0.3)', async function () {
    const data = bytes(999);
    const id = (await createImage(app)).id as string;
    assert.equal((await getImage(app, id)).owner, null);
    await stage(app, id, data);
    assert.equal((await importing(app, id, { method: { name: 'glance-direct' } })).status, 202);
    const image = await waitForImage(app, id, (i) => i.status === 'active');
    assert.equal(image.checksum, md5(data));
  });

  it('#64 glance-direct on a queued image → 409; unknown method → 400; missing method → 400', async function () {
    const id = (await createImage(app)).id as string;
    assert.equal((await importing(app, id, { method: { name: 'glance-direct' } })).status, 409);
    assert.equal((await importing(app, id, { method: { name: 'glance-download' } })).status, 400);
    assert.equal((await importing(app, id, { method: { name: 'teleport' } })).status, 400);
    assert.equal((await importing(app, id, {})).status, 400);
    assert.equal((await importing(app, id, { method: {} })).status, 400);
    assert.equal((await importing(app, id, { method: 'glance-direct' })).status, 400);
    assert.equal((await app.http.post(`/v2/images/${id}/import`)).status, 400, 'no body');
    assert.equal((await getImage(app, id)).status, 'queued');
  });

  it('#64 non-boolean all_stores → 400; all_stores_must_succeed false without multi-store → 400', async function () {
    const id = (await createImage(app)).id as string;
    await stage(app, id, Buffer.from('abc'));
    assert.equal((await importing(app, id, { method: { name: 'glance-direct' }, all_stores: 'yes' })).status, 400);
    assert.equal((await importing(app, id, { method: { name: 'glance-direct' }, all_stores_must_succeed: 'no' })).status, 400);
    assert.equal((await importing(app, id, { method: { name: 'glance-direct' }, all_stores_must_succeed: false })).status, 400);
    assert.equal((await getImage(app, id)).status, 'uploading', 'nothing started');
  });

  it('#64 import on an image lacking formats → 409; on an active image with glance-direct → 409', async function () {
    const id = (await createImage(app, {})).id as string;
    await stage(app, id, Buffer.from('abc'));
    assert.equal((await importing(app, id, { method: { name: 'glance-direct' } })).status, 409);
    const active = (await activeImage(app, Buffer.from('x'))).id as string;
    assert.equal((await importing(app, active, { method: { name: 'glance-direct' } })).status, 409);
    assert.equal((await importing(app, '0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f', { method: { name: 'glance-direct' } })).status, 404);
  });

  it('#64 web-download to http://example.com:8080/x → 400; unlisted hosts, schemes and ports → 400', async function () {
    const id = (await createImage(app)).id as string;
    for (const uri of [
      'http://example.com:8080/x',
      'http://example.com/x',
      'http://localhost/x',
      `http://127.0.0.2:${origin.port}/data`,
      `ftp://127.0.0.1:${origin.port}/data`,
      'http://127.0.0.1:8080/data',
      'not a url',
    ]) {
      const res = await importing(app, id, { method: { name: 'web-download', uri } });
      assert.equal(res.status, 400, `${uri}: ${res.status}`);
    }
    assert.equal((await importing(app, id, { method: { name: 'web-download' } })).status, 400, 'uri missing');
    assert.equal((await getImage(app, id)).status, 'queued');
  });

  it('web-download from a loopback server listed in allowed_hosts/allowed_ports works end to end', async function () {
    const id = (await createImage(app)).id as string;
    const res = await importing(app, id, { method: { name: 'web-download', uri: origin.url('/data') } });
    assert.equal(res.status, 202, res.text);
    const image = await waitForImage(app, id, (i) => i.status === 'active');
    assert.equal(image.size, webData.length);
    assert.equal(image.checksum, md5(webData));
    assert.equal(image.os_hash_value, sha512(webData));
    assert.equal(image.os_glance_failed_import, '');
    assert.ok(((await download(app, id)).body as Buffer).equals(webData));
  });

  it('#64 web-download on a non-queued image → 409; a second import while one runs → 409', async function () {
    const active = (await activeImage(app, Buffer.from('x'))).id as string;
    assert.equal((await importing(app, active, { method: { name: 'web-download', uri: origin.url('/data') } })).status, 409);
    const id = (await createImage(app)).id as string;
    assert.equal((await importing(app, id, { method: { name: 'web-download', uri: origin.url('/slow') } })).status, 202);
    const during = await waitForImage(app, id, (i) => i.status === 'importing');
    assert.ok(during.os_glance_import_task, 'the import holds the lock');
    assert.equal((await importing(app, id, { method: { name: 'web-download', uri: origin.url('/data') } })).status, 409);
    assert.equal((await upload(app, id, Buffer.from('x'))).status, 409);
    origin.release();
    const image = await waitForImage(app, id, (i) => i.status === 'active');
    assert.equal(image.checksum, md5(webData));
  });

  it('a failed web-download reverts the image to queued and names the failed store', async function () {
    const id = (await createImage(app)).id as string;
    assert.equal((await importing(app, id, { method: { name: 'web-download', uri: origin.url('/missing') } })).status, 202);
    const image = await waitForImage(app, id, (i) => i.status === 'queued' && i.os_glance_failed_import !== undefined && !i.os_glance_import_task);
    assert.equal(image.size, null);
    assert.equal(image.checksum, null);
    assert.equal(image.os_glance_failed_import, variant.storeId);
    await assertNoDataFor(app, variant.storeId, id);
  });

  it('imports respect image_size_cap: a too large web-download reverts to queued with nothing kept', async function () {
    const capped = await variant.start({
      defaults: 'image_size_cap = 1000',
      sections: `[import_filtering_opts]\nallowed_hosts = 127.0.0.1\nallowed_ports = ${origin.port}\n`,
    });
    try {
      const id = (await createImage(capped)).id as string;
      assert.equal((await importing(capped, id, { method: { name: 'web-download', uri: origin.url('/data') } })).status, 202);
      const image = await waitForImage(capped, id, (i) => i.status === 'queued' && !i.os_glance_import_task);
      assert.equal(image.size, null);
      assert.equal(image.os_glance_failed_import, variant.storeId);
      await assertNoDataFor(capped, variant.storeId, id);
      // a staged image within the cap still imports
      const ok = (await createImage(capped)).id as string;
      assert.equal((await stage(capped, ok, bytes(1000))).status, 204);
      assert.equal((await importing(capped, ok, { method: { name: 'glance-direct' } })).status, 202);
      assert.equal((await waitForImage(capped, ok, (i) => i.status === 'active')).size, 1000);
    } finally {
      await capped.close();
    }
  });

  it('disabled methods: stage → 404 without glance-direct; import with a disabled method → 400', async function () {
    const limited = await variant.start({ defaults: 'enabled_import_methods = web-download' });
    try {
      const id = (await createImage(limited)).id as string;
      assert.equal((await stage(limited, id, Buffer.from('x'))).status, 404);
      assert.equal((await importing(limited, id, { method: { name: 'glance-direct' } })).status, 400);
      assert.equal((await getImage(limited, id)).status, 'queued');
    } finally {
      await limited.close();
    }
  });

  it('web-download is refused for every host while allowed_hosts is empty (the default)', async function () {
    const plain = await variant.start();
    try {
      const id = (await createImage(plain)).id as string;
      assert.equal((await importing(plain, id, { method: { name: 'web-download', uri: origin.url('/data') } })).status, 400);
      assert.equal((await importing(plain, id, { method: { name: 'web-download', uri: 'https://example.com/image.img' } })).status, 400);
    } finally {
      await plain.close();
    }
  });

  describe('copy-image and tasks (trusted-auth)', function () {
    let trusted: TestApp;
    const A = as('projA');
    const ADMIN = as('projAdmin', 'admin');
    before(async function () {
      trusted = await variant.start({
        sections: `${TRUSTED}[import_filtering_opts]\nallowed_hosts = 127.0.0.1\nallowed_ports = ${origin.port}\n`,
      });
    });
    after(async function () {
      await trusted.close();
    });

    it('#65 copy-image by a non-admin → 403; on a non-active image → 409', async function () {
      const active = (await activeImage(trusted, Buffer.from('abc'), {}, A)).id as string;
      assert.equal((await importing(trusted, active, { method: { name: 'copy-image' } }, A)).status, 403);
      const queued = (await createImage(trusted, RAW_BARE, A)).id as string;
      assert.equal((await importing(trusted, queued, { method: { name: 'copy-image' } }, ADMIN)).status, 409);
    });

    it('#65 single store: copy-image to the store that already holds the image → 400', async function () {
      const active = (await activeImage(trusted, Buffer.from('abc'), {}, A)).id as string;
      assert.equal((await importing(trusted, active, { method: { name: 'copy-image' } }, ADMIN)).status, 400);
    });

    it('another project cannot stage or import into a foreign image (403) or see a private one (404)', async function () {
      const shared = (await createImage(trusted, { ...RAW_BARE, visibility: 'community' }, A)).id as string;
      assert.equal((await stage(trusted, shared, Buffer.from('x'), as('projB'))).status, 403);
      const priv = (await createImage(trusted, { ...RAW_BARE, visibility: 'private' }, A)).id as string;
      assert.equal((await stage(trusted, priv, Buffer.from('x'), as('projB'))).status, 404);
      assert.equal((await stage(trusted, priv, Buffer.from('x'), A)).status, 204);
      assert.equal((await importing(trusted, priv, { method: { name: 'glance-direct' } }, as('projB'))).status, 404);
    });

    it('#66 GET /v2/tasks as non-admin → 403; DELETE /v2/tasks/{id} → 403 for non-admin, 405 Allow: GET for an admin', async function () {
      assert.equal((await trusted.http.get('/v2/tasks').set(A)).status, 403);
      const id = (await createImage(trusted, RAW_BARE, A)).id as string;
      await stage(trusted, id, Buffer.from('task data'), A);
      assert.equal((await importing(trusted, id, { method: { name: 'glance-direct' } }, A)).status, 202);
      await waitForImage(trusted, id, (i) => i.status === 'active', { headers: A });
      const tasks = await trusted.http.get(`/v2/images/${id}/tasks`).set(A);
      assert.equal(tasks.status, 200);
      const taskId = tasks.body.tasks[0].id as string;
      assert.equal((await trusted.http.delete(`/v2/tasks/${taskId}`).set(A)).status, 403);
      const admin = await trusted.http.delete(`/v2/tasks/${taskId}`).set(ADMIN);
      assert.equal(admin.status, 405);
      assert.equal(admin.headers.allow, 'GET');
      assert.equal((await trusted.http.get(`/v2/tasks/${taskId}`).set(A)).status, 403);
    });

    it('the import task is visible through GET /v2/images/{id}/tasks and, for admins, /v2/tasks', async function () {
      const data = Buffer.from('tracked import');
      const id = (await createImage(trusted, { ...RAW_BARE, visibility: 'community' }, A)).id as string;
      await stage(trusted, id, data, A);
      const started = await importing(trusted, id, { method: { name: 'glance-direct' } }, A);
      assert.equal(started.status, 202);
      await waitForImage(trusted, id, (i) => i.status === 'active', { headers: A });
      const imageTasks = await trusted.http.get(`/v2/images/${id}/tasks`).set(A);
      assert.equal(imageTasks.body.tasks.length, 1);
      const entry = imageTasks.body.tasks[0];
      assert.equal(entry.type, 'api_image_import');
      assert.equal(entry.status, 'success');
      assert.equal(entry.image_id, id);
      assert.equal(entry.owner, 'projA');
      assert.equal(entry.request_id, started.headers['x-openstack-request-id']);
      assert.match(entry.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/, 'naive timestamps with microseconds');
      assert.equal((await trusted.http.get(`/v2/images/${id}/tasks`).set(as('projB'))).status, 200, 'a community image is visible');
      assert.deepEqual((await trusted.http.get(`/v2/images/${id}/tasks`).set(as('projB'))).body.tasks, [], 'but not their tasks');

      const one = await trusted.http.get(`/v2/tasks/${entry.id as string}`).set(ADMIN);
      assert.equal(one.status, 200);
      assert.equal(one.body.status, 'success');
      assert.deepEqual(one.body.result, { image_id: id });
      assert.equal(one.body.self, `/v2/tasks/${entry.id as string}`);
      assert.equal(one.body.schema, '/v2/schemas/task');
      assert.match(one.body.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const list = await trusted.http.get('/v2/tasks').set(ADMIN);
      assert.equal(list.status, 200);
      assert.equal(list.body.schema, '/v2/schemas/tasks');
      assert.equal(list.body.first, '/v2/tasks');
      assert.ok(list.body.tasks.some((t: { id: string }) => t.id === entry.id));
      assert.equal((await trusted.http.get('/v2/tasks/0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f').set(ADMIN)).status, 404);
    });

    it('/v2/tasks filters and paging: bad type/status/sort → 400; limit pages with next', async function () {
      for (const q of ['type=bogus', 'status=bogus', 'sort_key=owner', 'sort_dir=up', 'limit=x', 'limit=-1', 'marker=0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f']) {
        assert.equal((await trusted.http.get(`/v2/tasks?${q}`).set(ADMIN)).status, 400, q);
      }
      assert.equal((await trusted.http.get('/v2/tasks?type=import&status=success').set(ADMIN)).status, 200);
      const page = await trusted.http.get('/v2/tasks?limit=1').set(ADMIN);
      assert.equal(page.body.tasks.length, 1);
      assert.ok(page.body.next.endsWith(`marker=${page.body.tasks[0].id as string}`));
      const next = await trusted.http.get(page.body.next).set(ADMIN);
      assert.equal(next.status, 200);
      assert.notEqual(next.body.tasks[0]?.id, page.body.tasks[0].id);
    });

    it('POST /v2/tasks (legacy import, admin) → 201 with Location; the task imports from the allowed origin', async function () {
      assert.equal((await trusted.http.post('/v2/tasks').set(A).send({ type: 'import', input: {} })).status, 403);
      const res = await trusted.http
        .post('/v2/tasks')
        .set(ADMIN)
        .send({ type: 'import', input: { import_from: origin.url('/data'), import_from_format: 'raw', image_properties: { name: 'from-task' } } });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers.location, `${res.headers.location.split('/v2/')[0]}/v2/tasks/${res.body.id as string}`);
      assert.equal(res.body.type, 'import');
      const imageId = res.body.image_id as string;
      const image = await waitForImage(trusted, imageId, (i) => i.status === 'active', { headers: ADMIN });
      assert.equal(image.name, 'from-task');
      assert.equal(image.checksum, md5(webData));
      const bad = await trusted.http.post('/v2/tasks').set(ADMIN).send({ type: 'export', input: {} });
      assert.equal(bad.status, 400);
      const refused = await trusted.http
        .post('/v2/tasks')
        .set(ADMIN)
        .send({ type: 'import', input: { import_from: 'http://example.com/x', import_from_format: 'raw' } });
      assert.equal(refused.status, 400);
    });
  });
});

describe('Glance v2: import in the unauthenticated flavour', function () {
  it('copy-image → 403 (no admin role, §0.1)', async function () {
    const app = await startTestApp();
    try {
      const id = (await activeImage(app, Buffer.from('abc'))).id as string;
      assert.equal((await importing(app, id, { method: { name: 'copy-image' } })).status, 403);
    } finally {
      await app.close();
    }
  });
});
