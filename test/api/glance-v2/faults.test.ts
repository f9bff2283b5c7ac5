import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestApp, type TestApp } from '../../support/app';
import { cutDownload } from '../../support/crash';
import { createTestDatabase, type TestDatabase } from '../../support/mysql';
import { startS3Server, type S3TestServer } from '../../support/s3';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy';
import { bytes, createImage, getImage, listen, md5, rawPut, RAW_BARE, sleep, storeKeys, storeLeftovers, upload, type Listening } from './support/harness';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Crash-recovery settings short enough for a test: what a dead write or an outage leaves is swept within seconds. */
const RECOVERY = '[glint]\nwrite_lease_time = 1\nreconcile_interval = 1\norphan_grace_period = 1\n';

/** Polls `probe` until it returns true; gives up (returning false) after `timeoutMs`. */
async function eventually(probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(100)) {
    if (await probe()) return true;
  }
  return false;
}

/**
 * Issue 16, "Faults": a dependency going away mid-request is a 503 in the surface's error body,
 * leaves nothing behind once it is back, and needs no restart; a client that goes away
 * mid-transfer leaks no descriptor and no temp file.
 */
describe('Glance v2: faults', function () {
  this.timeout(60_000);

  describe('the S3 endpoint stops mid-upload', function () {
    let server: S3TestServer;
    let endpoint: TcpProxy;
    let t: TestApp;
    let listening: Listening;

    before(async function () {
      server = await startS3Server();
      endpoint = await startTcpProxy('127.0.0.1', Number(new URL(server.endpoint).port));
      const s3 =
        `[glance_store]\ndefault_store = s3\ns3_store_host = http://127.0.0.1:${endpoint.port}\ns3_store_access_key = ${server.accessKey}\n` +
        `s3_store_secret_key = ${server.secretKey}\ns3_store_bucket = faults\ns3_store_create_bucket_on_put = true\n` +
        `s3_store_checksum_mode = when_required\ns3_store_large_object_chunk_size = 5\n`;
      t = await startTestApp(`${s3}\n${RECOVERY}`);
      listening = await listen(t);
    });
    after(async function () {
      await listening?.close();
      await t?.close();
      await endpoint?.close();
      await server?.stop();
    });

    it('→ 503 in Glance’s body, image queued; once it is back no object or multipart upload is left and the upload works', async function () {
      const id = (await createImage(t)).id as string;
      const put = rawPut(listening, `/v2/images/${id}/file`, { Accept: 'application/json' });
      await put.write(bytes(6 * MiB));
      // the first part is on its way: a multipart upload is open
      assert.ok(await eventually(async () => (await storeLeftovers(t.config, 's3')).length === 1), 'a multipart upload was started');
      endpoint.cut();
      // enough for another part: whether or not the first part was still in flight at the cut,
      // the next request to S3 fails (until then nothing can tell the endpoint is gone)
      void put.write(bytes(5 * MiB)).catch(() => undefined);
      const res = await put.response;
      put.abort();
      assert.equal(res.status, 503, res.body);
      const body = JSON.parse(res.body) as { code: string; title: string; message: string };
      assert.equal(body.code, '503 Service Unavailable');
      assert.equal(body.title, 'Service Unavailable');
      const image = await getImage(t, id);
      assert.equal(image.status, 'queued');
      assert.equal(image.size, null);

      endpoint.restore();
      // the failed upload could not abort its multipart upload while S3 was away: the reconciler does
      assert.ok(await eventually(async () => (await storeLeftovers(t.config, 's3')).length === 0), 'the multipart upload is aborted');
      assert.deepEqual(await storeKeys(t.app, 's3'), []);
      const data = bytes(7 * MiB);
      assert.equal((await upload(t, id, data)).status, 204);
      const active = await getImage(t, id);
      assert.equal(active.status, 'active');
      assert.equal(active.checksum, md5(data));
    });
  });

  describe('the database becomes unreachable (MariaDB behind a proxy that is cut)', function () {
    let database: TestDatabase;
    let proxy: TcpProxy;
    let t: TestApp;
    let listening: Listening;

    before(async function () {
      database = await createTestDatabase();
      proxy = await startTcpProxy(database.config.host, database.config.port);
      const { user, password } = database.config;
      const credentials = password === '' ? encodeURIComponent(user) : `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
      const url = `mysql+pymysql://${credentials}@127.0.0.1:${proxy.port}/${database.config.database}`;
      t = await startTestApp(RECOVERY, { GLINT_DATABASE_CONNECTION: url });
      listening = await listen(t);
    });
    after(async function () {
      await listening?.close();
      await t?.close();
      await proxy?.close();
      await database?.drop();
    });

    it('→ 503 with Glance’s error body on reads and writes, and everything works again once it returns, without a restart', async function () {
      const id = (await createImage(t, { ...RAW_BARE, name: 'before the outage' })).id as string;
      proxy.cut();
      const list = await t.http.get('/v2/images').set('Accept', 'application/json');
      assert.equal(list.status, 503, list.text);
      assert.deepEqual(Object.keys(list.body as object).sort(), ['code', 'message', 'title']);
      assert.equal((list.body as { title: string }).title, 'Service Unavailable');
      assert.equal((await t.http.get(`/v2/images/${id}`)).status, 503);
      assert.equal((await t.http.post('/v2/images').send(RAW_BARE)).status, 503);
      const refused = await upload(t, id, bytes(KiB));
      assert.equal(refused.status, 503);
      assert.deepEqual(await storeKeys(t.app, t.app.stores.default.id), [], 'nothing stored without a reservation');

      proxy.restore();
      const listed = await t.http.get('/v2/images');
      assert.equal(listed.status, 200);
      assert.deepEqual((listed.body as { images: Array<{ name: string }> }).images.map((i) => i.name), ['before the outage']);
      assert.equal((await createImage(t)).status, 'queued');
      const data = bytes(100 * KiB);
      assert.equal((await upload(t, id, data)).status, 204);
      assert.equal((await getImage(t, id)).checksum, md5(data));
    });

    it('cut mid-upload: the upload gets 503, nothing is kept, and the image is queued again once the database is back', async function () {
      const id = (await createImage(t)).id as string;
      const put = rawPut(listening, `/v2/images/${id}/file`);
      await put.write(bytes(256 * KiB));
      assert.ok(await eventually(async () => (await getImage(t, id)).status === 'saving'));
      proxy.cut();
      void put.finish(bytes(256 * KiB)).catch(() => undefined);
      const res = await put.response;
      assert.equal(res.status, 503, res.body);
      proxy.restore();
      // the failed write could not release the image while the database was away; its lease expires and the reconciler does
      assert.ok(await eventually(async () => (await getImage(t, id)).status === 'queued'), 'the image is queued again');
      assert.deepEqual((await storeKeys(t.app, t.app.stores.default.id)).filter((key) => key.includes(id)), []);
      assert.deepEqual(await storeLeftovers(t.config, t.app.stores.default.id), []);
      assert.equal((await upload(t, id, bytes(KiB))).status, 204);
    });
  });

  describe('clients that go away mid-transfer (filesystem store, in this process)', function () {
    let t: TestApp;
    let listening: Listening;
    before(async function () {
      t = await startTestApp(RECOVERY);
      listening = await listen(t);
    });
    after(async function () {
      await listening?.close();
      await t?.close();
    });

    const openFds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;

    it('20 uploads and 20 downloads cut halfway leave no descriptor and no temp file behind', async function () {
      const source = (await createImage(t)).id as string;
      const data = bytes(8 * MiB);
      assert.equal((await upload(t, source, data)).status, 204);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await createImage(t)).id as string);
      // one transfer of each kind first, so that lazily opened pools and caches are already open
      await cutUpload(listening, ids[0]);
      await cutDownload(listening.url, source);
      assert.ok(await eventually(async () => (await getImage(t, ids[0])).status === 'queued'));
      const before = await openFds();

      await Promise.all(ids.slice(1).map((id) => cutUpload(listening, id)));
      await Promise.all(Array.from({ length: 20 }, () => cutDownload(listening.url, source)));
      for (const id of ids) assert.ok(await eventually(async () => (await getImage(t, id)).status === 'queued'), `image ${id} is queued again`);
      // server-side sockets close once the server notices the client is gone
      await eventually(async () => (await openFds()) <= before, 10_000);
      assert.ok((await openFds()) <= before, `${(await openFds()) - before} descriptors more than before the cut transfers`);
      const dataDir = (t.app.stores.default.details() as { dataDir: string }).dataDir;
      assert.deepEqual(await readdir(join(dataDir, '.tmp')).catch(() => []), []);
      assert.deepEqual(await storeKeys(t.app, t.app.stores.default.id), [source]);
    });
  });
});

/** Sends 1 MiB of an upload, then drops the connection. */
async function cutUpload(target: Listening, id: string): Promise<void> {
  const put = rawPut(target, `/v2/images/${id}/file`);
  await put.write(bytes(MiB));
  await sleep(20);
  put.abort();
}
