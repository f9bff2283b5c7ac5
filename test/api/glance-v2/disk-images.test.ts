import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestApp } from '../../support/app';
import { makeDiskImages, type DiskImages } from '../../support/disk-images';
import { assertBackToQueued, assertNoDataFor, createImage, forEachStore, getImage, md5, stage, upload, waitForImage, type StoreVariant } from './support/harness';

/**
 * Unsafe disk images (Glance's format inspector, OSSA-2024-001 / CVE-2024-32498, and its 2024.2
 * content checks) through every write path: PUT /file, PUT /stage + glance-direct import, and
 * web-download. Refused data answers 415 on PUT /file (Glance 2024.2+), 400 on PUT /stage, or fails
 * the import; the image is queued again and the store holds nothing of it; safe images of every
 * format go through.
 */

interface Origin {
  url(name: string): string;
  close(): Promise<void>;
}

async function serve(files: Record<string, Buffer>): Promise<Origin> {
  const server: Server = createServer((req, res) => {
    const body = files[(req.url ?? '').slice(1)];
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Each unsafe case: the bytes and the disk_format the image declares. */
function unsafeCases(images: DiskImages): Array<{ name: string; data: Buffer; diskFormat: string; says: string }> {
  return [
    { name: 'qcow2 with a backing file on /etc/passwd', data: images.qcow2BackingFile, diskFormat: 'qcow2', says: 'backing file' },
    { name: 'qcow2 with an external data file', data: images.qcow2DataFile, diskFormat: 'qcow2', says: 'data_file' },
    { name: 'raw bytes declared qcow2', data: images.good.raw, diskFormat: 'qcow2', says: 'does not match stream data raw' },
    { name: 'a monolithicFlat vmdk whose flat extent is /etc/passwd', data: images.vmdkFlatPasswd, diskFormat: 'vmdk', says: 'outside the image' },
    { name: 'a qcow2 with a backing file declared raw', data: images.qcow2BackingFile, diskFormat: 'raw', says: 'backing file' },
  ];
}

forEachStore('Glance v2: unsafe disk images are refused on every write path', (variant: StoreVariant) => {
  let app: TestApp;
  let origin: Origin;
  let images: DiskImages;
  before(async function () {
    this.timeout(60_000);
    images = makeDiskImages();
    const files: Record<string, Buffer> = {};
    for (const [i, c] of unsafeCases(images).entries()) files[`unsafe-${i}`] = c.data;
    for (const [name, data] of Object.entries(images.good)) files[`good-${name}`] = data;
    origin = await serve(files);
    const port = new URL(origin.url('x')).port;
    app = await variant.start({ sections: `[import_filtering_opts]\nallowed_hosts = 127.0.0.1\nallowed_ports = ${port}\n` });
  });
  after(async function () {
    await origin?.close();
    await app?.close();
  });

  // gpt is not a disk_format Glance offers by default: a partitioned disk is uploaded as raw
  const formatOf = (name: string) => (name === 'vmdkStream' ? 'vmdk' : name === 'gpt' ? 'raw' : name);
  const newImage = async (diskFormat: string) => (await createImage(app, { disk_format: diskFormat, container_format: 'bare' })).id as string;

  it('PUT /file: each unsafe image → 415 with Glance\'s message, queued again, nothing stored', async function () {
    for (const c of unsafeCases(images)) {
      const id = await newImage(c.diskFormat);
      const res = await upload(app, id, c.data, { Accept: 'application/json' });
      assert.equal(res.status, 415, `${c.name}: ${res.status} ${res.text}`);
      assert.ok(res.text.includes(c.says), `${c.name}: ${res.text}`);
      await assertBackToQueued(app, variant.storeId, await getImage(app, id));
    }
  });

  it('PUT /stage: each unsafe image → 400, queued again, nothing staged', async function () {
    for (const c of unsafeCases(images)) {
      const id = await newImage(c.diskFormat);
      const res = await stage(app, id, c.data);
      assert.equal(res.status, 400, `${c.name}: ${res.status} ${res.text}`);
      await assertBackToQueued(app, variant.storeId, await getImage(app, id));
    }
  });

  it('web-download: each unsafe image fails the import, the image is queued again, nothing stored', async function () {
    this.timeout(60_000);
    for (const [i, c] of unsafeCases(images).entries()) {
      const id = await newImage(c.diskFormat);
      const res = await app.http.post(`/v2/images/${id}/import`).send({ method: { name: 'web-download', uri: origin.url(`unsafe-${i}`) } });
      assert.equal(res.status, 202, res.text);
      const image = await waitForImage(app, id, (img) => img.status === 'queued' && typeof img.os_glance_failed_import === 'string' && img.os_glance_failed_import !== '');
      assert.equal(image.size, null, c.name);
      await assertNoDataFor(app, variant.storeId, id);
      const task = await finishedTask(app, id);
      assert.equal(task.status, 'failure', c.name);
    }
  });

  it('safe images of every format go through PUT /file, stage + glance-direct, and web-download', async function () {
    this.timeout(120_000);
    for (const [name, data] of Object.entries(images.good)) {
      const diskFormat = formatOf(name);
      const direct = await newImage(diskFormat);
      const put = await upload(app, direct, data, { Accept: 'application/json' });
      assert.equal(put.status, 204, `${name} upload: ${put.text}`);
      const uploaded = await getImage(app, direct);
      assert.equal(uploaded.status, 'active');
      assert.equal(uploaded.checksum, md5(data));

      const staged = await newImage(diskFormat);
      assert.equal((await stage(app, staged, data)).status, 204, `${name} stage`);
      assert.equal((await app.http.post(`/v2/images/${staged}/import`).send({ method: { name: 'glance-direct' } })).status, 202);
      assert.equal((await waitForImage(app, staged, (i) => i.status === 'active' || i.status === 'queued')).status, 'active', `${name} glance-direct`);

      const fetched = await newImage(diskFormat);
      assert.equal((await app.http.post(`/v2/images/${fetched}/import`).send({ method: { name: 'web-download', uri: origin.url(`good-${name}`) } })).status, 202);
      const done = await waitForImage(app, fetched, (i) => i.status === 'active' || (i.status === 'queued' && !!i.os_glance_failed_import));
      assert.equal(done.status, 'active', `${name} web-download`);
      assert.equal(done.virtual_size, uploaded.virtual_size, `${name}: the same virtual size on every path`);
    }
  });
});

/** The image's (one) import task once it has finished. */
async function finishedTask(app: TestApp, imageId: string): Promise<Record<string, unknown>> {
  let last: unknown;
  for (let i = 0; i < 300; i++) {
    const res = await app.http.get(`/v2/images/${imageId}/tasks`);
    const task = (res.body.tasks as Array<Record<string, unknown>> | undefined)?.[0];
    last = task;
    if (task && (task.status === 'failure' || task.status === 'success')) return task;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`the import task of ${imageId} did not finish: ${JSON.stringify(last)}`);
}
