import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Readable } from 'node:stream';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { startS3Server, type S3TestServer } from '../../support/s3';
import { bytes, createImage, download, getImage, md5, multiStoreIni, patchImage, RAW_BARE, sha512, stage, upload, waitForImage } from './support/harness';

/**
 * The locations API of Image API 2.17 (POST / GET /v2/images/{id}/locations) on a filesystem
 * store: Glance's order of checks, the location_import job (hashing as do_secure_hash says,
 * validation data), and reading the data back through /file.
 */

const OWNER = as('proj-a', 'member');
// nova and cinder act in the user's project, with the service role beside the user's
const SERVICE = as('proj-a', 'member,service');
const ADMIN = as('proj-admin', 'admin');

/** Puts `data` into the default filesystem store under `key`, as another service would. */
async function putObject(app: TestApp, key: string, data: Buffer): Promise<string> {
  const details = app.app.stores.default.details();
  assert.equal(details.type, 'file');
  const path = join(details.dataDir, key);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
  return pathToFileURL(path).href;
}

async function queuedImage(app: TestApp): Promise<string> {
  return (await createImage(app, { ...RAW_BARE, name: 'by-location' }, OWNER)).id as string;
}

async function lastTask(app: TestApp, id: string): Promise<Record<string, unknown>> {
  const res = await app.http.get(`/v2/images/${id}/tasks`).set(OWNER);
  assert.equal(res.status, 200, res.text);
  const tasks = res.body.tasks as Array<Record<string, unknown>>;
  assert.ok(tasks.length > 0, 'no task for the image');
  return tasks[0];
}

async function waitForTask(app: TestApp, id: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 300; i++) {
    const task = await lastTask(app, id);
    if (task.status === 'success' || task.status === 'failure') return task;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`task of image ${id} did not finish`);
}

describe('Glance v2: POST and GET /v2/images/{id}/locations', function () {
  this.timeout(30_000);
  let app: TestApp;

  before(async () => {
    app = await startTestApp(TRUSTED);
  });
  after(async () => app.close());

  it('adds a location to a queued image: hashed by the job, active with its size, readable through /file', async () => {
    const data = bytes(300_000);
    const url = await putObject(app, 'external/disk-1', data);
    const id = await queuedImage(app);
    const res = await app.http.post(`/v2/images/${id}/locations`).set(SERVICE).send({ url });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.text, '');
    const image = await waitForImage(app, id, (i) => i.status === 'active' && i.os_hash_value !== null, { headers: OWNER });
    assert.equal(image.size, data.length);
    assert.equal(image.checksum, md5(data));
    assert.equal(image.os_hash_algo, 'sha512');
    assert.equal(image.os_hash_value, sha512(data));
    assert.equal(image.os_glance_import_task, undefined, 'the lock is released');
    const read = await download(app, id, OWNER);
    assert.equal(read.status, 200);
    assert.ok(Buffer.compare(read.body as Buffer, data) === 0, 'the data read back is the object added');

    const listed = await app.http.get(`/v2/images/${id}/locations`).set(SERVICE);
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.body, [{ url, metadata: {} }]);
    assert.equal((await waitForTask(app, id)).status, 'success');
  });

  it('checks validation_data against the data it hashes: a match goes active, a mismatch takes the location back', async () => {
    const data = bytes(70_000);
    const url = await putObject(app, 'external/disk-2', data);
    const id = await queuedImage(app);
    const sha256 = createHash('sha256').update(data).digest('hex');
    const ok = await app.http.post(`/v2/images/${id}/locations`).set(SERVICE).send({ url, validation_data: { os_hash_algo: 'sha256', os_hash_value: sha256 } });
    assert.equal(ok.status, 202, ok.text);
    const image = await waitForImage(app, id, (i) => i.status === 'active', { headers: OWNER });
    assert.equal(image.os_hash_algo, 'sha256');
    assert.equal(image.os_hash_value, sha256);
    assert.equal(image.checksum, md5(data));

    const otherUrl = await putObject(app, 'external/disk-3', bytes(5_000));
    const other = await queuedImage(app);
    const wrong = sha512(Buffer.from('something else'));
    const bad = await app.http.post(`/v2/images/${other}/locations`).set(SERVICE).send({ url: otherUrl, validation_data: { os_hash_algo: 'sha512', os_hash_value: wrong } });
    assert.equal(bad.status, 202, bad.text);
    const task = await waitForTask(app, other);
    assert.equal(task.status, 'failure');
    assert.match(String(task.message), /not matched with actual os_hash_value/);
    const reverted = await getImage(app, other, OWNER);
    assert.equal(reverted.status, 'queued');
    assert.equal(reverted.size, null);
    assert.equal(reverted.os_hash_value, null);
    assert.equal(reverted.os_glance_import_task, undefined);
    assert.deepEqual((await app.http.get(`/v2/images/${other}/locations`).set(SERVICE)).body, []);
    assert.equal(existsSync(new URL(otherUrl)), false, 'the refused data is deleted, as Glance pops the location');
  });

  it("refuses in Glance's order: 404, 409 not queued, 403 without the service role, 400 body and URL, 409 locked", async () => {
    const url = await putObject(app, 'external/disk-4', bytes(1000));
    const missing = await app.http.post('/v2/images/6f7a3a26-1fd3-4ea0-8d53-54d2b1f0a5b5/locations').set(SERVICE).send({ url });
    assert.equal(missing.status, 404);

    const active = (await createImage(app, RAW_BARE, OWNER)).id as string;
    assert.equal((await upload(app, active, bytes(10), OWNER)).status, 204);
    const notQueued = await app.http.post(`/v2/images/${active}/locations`).set(SERVICE).send({ url });
    assert.equal(notQueued.status, 409);
    assert.match(notQueued.text, /not allowed to add locations if image status is active/);

    const id = await queuedImage(app);
    const byOwner = await app.http.post(`/v2/images/${id}/locations`).set(OWNER).send({ url });
    assert.equal(byOwner.status, 403);
    assert.match(byOwner.text, /http store must be enabled/);
    const byAdmin = await app.http.post(`/v2/images/${id}/locations`).set(ADMIN).send({ url });
    assert.equal(byAdmin.status, 403);
    const byStranger = await app.http.post(`/v2/images/${id}/locations`).set(as('proj-b', 'member')).send({ url });
    assert.equal(byStranger.status, 404, 'a private image of another project is not found');

    const badBodies: unknown[] = [
      {},
      { url: 7 },
      { url, validation_data: { os_hash_value: sha512(Buffer.from('x')) } },
      { url, validation_data: { os_hash_algo: 'sha512' } },
      { url, validation_data: { os_hash_algo: 'sha123', os_hash_value: 'ab' } },
      { url, validation_data: { os_hash_algo: 'sha512', os_hash_value: 'ab', checksum: 'x' } },
      { url, validation_data: { os_hash_algo: 'sha512', os_hash_value: 'zz' } },
      { url, validation_data: { os_hash_algo: 'sha512', os_hash_value: createHash('sha256').update('x').digest('hex') } },
    ];
    for (const body of badBodies) {
      const res = await app.http.post(`/v2/images/${id}/locations`).set(SERVICE).send(body as object);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${res.status} ${res.text}`);
    }
    const dataDir = (app.app.stores.default.details() as { dataDir: string }).dataDir;
    for (const bad of ['http://example.com/disk', 'file:///etc/passwd', `file://${dataDir}/../escape`, `file://${dataDir}/staging/${id}`, 's3://127.0.0.1:1/bucket/key', 'not a url']) {
      const res = await app.http.post(`/v2/images/${id}/locations`).set(SERVICE).send({ url: bad });
      assert.equal(res.status, 400, `${bad} → ${res.status} ${res.text}`);
    }
    assert.equal((await getImage(app, id, OWNER)).status, 'queued', 'nothing was queued for a refused request');

    // a staged glance-direct image is not queued; an import holding the lock refuses another
    const staged = await queuedImage(app);
    assert.equal((await stage(app, staged, bytes(10), OWNER)).status, 204);
    assert.equal((await app.http.post(`/v2/images/${staged}/locations`).set(SERVICE).send({ url })).status, 409);
  });

  it("nova's way: the user's own token beside a service token (X-Service-Roles: service) may add a location", async () => {
    const url = await putObject(app, 'external/by-nova', bytes(2048));
    const id = await queuedImage(app);
    const res = await app.http.post(`/v2/images/${id}/locations`).set({ ...OWNER, 'X-Service-Roles': 'service' }).send({ url });
    assert.equal(res.status, 202, res.text);
    await waitForImage(app, id, (i) => i.status === 'active', { headers: OWNER });
    const other = await queuedImage(app);
    const notService = await app.http.post(`/v2/images/${other}/locations`).set({ ...OWNER, 'X-Service-Roles': 'reader' }).send({ url });
    assert.equal(notService.status, 403, notService.text);
  });

  it("GET lists for the service_api rule only (service, and admin as Glance keeps for now; 403 otherwise, 404 for an unknown image)", async () => {
    const id = await queuedImage(app);
    assert.equal((await app.http.get(`/v2/images/${id}/locations`).set(OWNER)).status, 403);
    assert.equal((await app.http.get(`/v2/images/${id}/locations`).set(as('proj-a', 'reader'))).status, 403);
    assert.equal((await app.http.get(`/v2/images/${id}/locations`).set(ADMIN)).status, 200);
    assert.deepEqual((await app.http.get(`/v2/images/${id}/locations`).set(SERVICE)).body, []);
    assert.equal((await app.http.get('/v2/images/6f7a3a26-1fd3-4ea0-8d53-54d2b1f0a5b5/locations').set(SERVICE)).status, 404);
  });

  it('a location whose object is missing fails its task and leaves the image queued and unlocked', async () => {
    const dataDir = (app.app.stores.default.details() as { dataDir: string }).dataDir;
    const id = await queuedImage(app);
    const url = pathToFileURL(join(dataDir, 'external/never-written')).href;
    assert.equal((await app.http.post(`/v2/images/${id}/locations`).set(SERVICE).send({ url })).status, 202);
    const task = await waitForTask(app, id);
    assert.equal(task.status, 'failure');
    assert.match(String(task.message), /Invalid location/);
    const image = await getImage(app, id, OWNER);
    assert.equal(image.status, 'queued');
    assert.equal(image.os_glance_import_task, undefined);
    const later = await putObject(app, 'external/written-later', bytes(100));
    assert.equal((await app.http.post(`/v2/images/${id}/locations`).set(SERVICE).send({ url: later })).status, 202, 'the lock of a finished task does not hold');
    await waitForImage(app, id, (i) => i.status === 'active', { headers: OWNER });
  });
});

describe('Glance v2: POST /v2/images/{id}/locations with do_secure_hash = false', function () {
  this.timeout(30_000);
  let app: TestApp;

  before(async () => {
    app = await startTestApp(`${TRUSTED}[DEFAULT]\ndo_secure_hash = false\n`);
  });
  after(async () => app.close());

  it('takes validation_data as given, and without it activates the image with no checksum', async () => {
    const data = bytes(4096);
    const given = sha512(Buffer.from('not the data: nothing is read'));
    const first = await queuedImage(app);
    const url = await putObject(app, 'external/unhashed-1', data);
    assert.equal((await app.http.post(`/v2/images/${first}/locations`).set(SERVICE).send({ url, validation_data: { os_hash_algo: 'sha512', os_hash_value: given } })).status, 202);
    const image = await waitForImage(app, first, (i) => i.status === 'active', { headers: OWNER });
    assert.equal(image.os_hash_value, given);
    assert.equal(image.checksum, null);
    assert.equal(image.size, data.length);

    const second = await queuedImage(app);
    const url2 = await putObject(app, 'external/unhashed-2', data);
    assert.equal((await app.http.post(`/v2/images/${second}/locations`).set(SERVICE).send({ url: url2 })).status, 202);
    const plain = await waitForImage(app, second, (i) => i.status === 'active', { headers: OWNER });
    assert.equal(plain.os_hash_value, null);
    assert.equal(plain.checksum, null);
    assert.equal((await waitForTask(app, second)).status, 'success');
  });
});

describe('Glance v2: locations on an S3 store (multi-store: fast = file, cold = s3rver)', function () {
  this.timeout(60_000);
  let server: S3TestServer;
  let app: TestApp;

  before(async () => {
    server = await startS3Server();
    app = await startTestApp(`${TRUSTED}${multiStoreIni(server, 'fast', 'show_multiple_locations = true')}`);
  });
  after(async () => {
    await app?.close();
    await server?.stop();
  });

  /** Writes `data` into the cold store's bucket, and its s3:// URL as another service names it. */
  async function putS3Object(key: string, data: Buffer): Promise<string> {
    const cold = app.app.stores.get('cold');
    assert.ok(cold);
    await cold.put(key, Readable.from([data]));
    const { bucket } = cold.details() as { bucket: string };
    return `s3://${new URL(server.endpoint).host}/${bucket}/${key}`;
  }

  it('POST resolves an s3:// URL to its store: the location records it, the image lists it in stores and reads from it', async () => {
    const data = bytes(120_000);
    const url = await putS3Object('rbd-like/snap-1', data);
    const id = await queuedImage(app);
    assert.equal((await app.http.post(`/v2/images/${id}/locations`).set(SERVICE).send({ url })).status, 202);
    const image = await waitForImage(app, id, (i) => i.status === 'active' && i.os_hash_value !== null, { headers: OWNER });
    assert.equal(image.stores, 'cold');
    assert.equal(image.os_hash_value, sha512(data));
    assert.deepEqual((await app.http.get(`/v2/images/${id}/locations`).set(SERVICE)).body, [{ url, metadata: { store: 'cold' } }]);
    assert.ok(Buffer.compare((await download(app, id, OWNER)).body as Buffer, data) === 0);

    const wrongBucket = url.replace(/\/glint-[^/]+\//, '/another-bucket/');
    assert.equal((await app.http.post(`/v2/images/${await queuedImage(app)}/locations`).set(SERVICE).send({ url: wrongBucket })).status, 400);
  });

  it('PATCH adds file and s3 locations to one image, each recording its store', async () => {
    const data = bytes(3000);
    const s3Url = await putS3Object('patch/both', data);
    const { dataDir } = app.app.stores.get('fast')!.details() as { dataDir: string };
    const path = join(dataDir, 'patch/both');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
    const fileUrl = pathToFileURL(path).href;
    const id = await queuedImage(app);
    const res = await patchImage(app, id, [
      { op: 'add', path: '/locations/-', value: { url: s3Url, metadata: {} } },
      { op: 'add', path: '/locations/-', value: { url: fileUrl, metadata: { store: 'wrong' } } },
    ], OWNER);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.locations, [
      { url: s3Url, metadata: { store: 'cold' } },
      { url: fileUrl, metadata: { store: 'fast' } },
    ]);
    assert.equal(res.body.stores, 'cold,fast');
  });
});
