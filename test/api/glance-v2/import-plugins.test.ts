import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImportPlugins } from '../../../src/domain/imports/plugins';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { randomData } from '../../support/random-data';
import { createImage, download, getImage, md5, stage, storeKeys, waitForImage } from './support/harness';

/**
 * Glance's import plugins inside the import job, end to end with the real qemu-img:
 * image_conversion (raw → qcow2 before the data is stored) and inject_image_metadata.
 */

const MEMBER = as('proj-a', 'member');
const ADMIN = as('proj-a', 'admin');
const PLUGINS = `${TRUSTED}[DEFAULT]
enabled_import_methods = glance-direct,web-download,copy-image
[image_import_opts]
image_import_plugins = image_conversion,inject_image_metadata
[image_conversion]
output_format = qcow2
[inject_metadata_properties]
inject = hw_vendor:acme,os_distro:glintix
ignore_user_roles = admin
[import_filtering_opts]
allowed_hosts = 127.0.0.1
allowed_ports =
`;

/** A raw disk: 64 KiB of random data (no format signature), then zeros, 3 MiB in all. */
function rawDisk(): Buffer {
  const disk = Buffer.alloc(3 * 1024 * 1024);
  randomData(64 * 1024).copy(disk, 0);
  randomData(4096).copy(disk, 2 * 1024 * 1024);
  return disk;
}

/** What qemu-img makes of `data`: its info, and the data converted back to raw. */
function qemuView(data: Buffer): { format: string; virtualSize: number; raw: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'glint-plugin-test-'));
  try {
    writeFileSync(join(dir, 'image'), data);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(dir, 'image')]).toString()) as { format: string; 'virtual-size': number };
    execFileSync('qemu-img', ['convert', '-O', 'raw', join(dir, 'image'), join(dir, 'back.raw')]);
    return { format: info.format, virtualSize: info['virtual-size'], raw: readFileSync(join(dir, 'back.raw')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const importTemps = () => readdirSync(tmpdir()).filter((name) => name.startsWith('glint-import-'));

async function importImage(app: TestApp, id: string, body: Record<string, unknown>, headers: Record<string, string>): Promise<void> {
  const res = await app.http.post(`/v2/images/${id}/import`).set(headers).send(body);
  assert.equal(res.status, 202, res.text);
}

describe('Glance v2: import plugins (image_conversion with qemu-img, inject_image_metadata)', function () {
  this.timeout(60_000);
  let app: TestApp;
  let origin: Server;
  let originUrl: string;
  const served = rawDisk();

  before(async () => {
    app = await startTestApp(PLUGINS);
    origin = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': served.length });
      res.end(served);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/disk.raw`;
  });
  after(async () => {
    await new Promise<void>((resolve) => origin.close(() => resolve()));
    await app.close();
  });

  it('glance-direct: converts raw to qcow2 before storing it, with the formats, sizes and checksum of what is stored', async () => {
    const disk = rawDisk();
    const id = (await createImage(app, { name: 'converted', disk_format: 'raw', container_format: 'bare' }, MEMBER)).id as string;
    assert.equal((await stage(app, id, disk, MEMBER)).status, 204);
    await importImage(app, id, { method: { name: 'glance-direct' } }, MEMBER);
    const image = await waitForImage(app, id, (i) => i.status === 'active', { headers: MEMBER, timeoutMs: 30_000 });
    assert.equal(image.disk_format, 'qcow2');
    assert.equal(image.container_format, 'bare');
    assert.equal(image.virtual_size, disk.length);

    const stored = (await download(app, id, MEMBER)).body as Buffer;
    assert.equal(stored.subarray(0, 4).toString('latin1'), 'QFI\xfb', 'the stored data is qcow2');
    assert.equal(image.size, stored.length);
    assert.ok(stored.length < disk.length, 'qcow2 leaves the zeros out');
    assert.equal(image.checksum, md5(stored), 'the checksum is of the data stored');
    const view = qemuView(stored);
    assert.equal(view.format, 'qcow2');
    assert.equal(view.virtualSize, disk.length);
    assert.ok(Buffer.compare(view.raw, disk) === 0, 'converting back gives the original bytes');

    // inject_image_metadata: the configured properties, for a user without an ignored role
    assert.equal(image.hw_vendor, 'acme');
    assert.equal(image.os_distro, 'glintix');
    assert.deepEqual((await storeKeys(app.app, app.app.stores.default.id)).sort(), [id], 'no staged original or temporary left in the store');
    assert.deepEqual(importTemps(), [], 'the job removed its temporary folder');
  });

  it('web-download: the downloaded data is converted too; an admin (ignore_user_roles) gets no injected properties', async () => {
    const id = (await createImage(app, { name: 'from-web', disk_format: 'raw', container_format: 'bare' }, ADMIN)).id as string;
    await importImage(app, id, { method: { name: 'web-download', uri: originUrl } }, ADMIN);
    const image = await waitForImage(app, id, (i) => i.status === 'active' || i.os_glance_failed_import !== '', { headers: ADMIN, timeoutMs: 30_000 });
    assert.equal(image.status, 'active', JSON.stringify(image));
    assert.equal(image.disk_format, 'qcow2');
    assert.equal(image.virtual_size, served.length);
    assert.ok(Buffer.compare(qemuView((await download(app, id, ADMIN)).body as Buffer).raw, served) === 0);
    assert.equal(image.hw_vendor, undefined);
    assert.equal(image.os_distro, undefined);
  });
});

describe('Glance v2: a failing image_conversion fails the import cleanly', function () {
  this.timeout(60_000);
  let app: TestApp;

  before(async () => {
    // staging lets the mismatch through, so that the conversion is what refuses it
    app = await startTestApp(`${PLUGINS}[image_format]\nrequire_image_format_match = false\n`);
  });
  after(async () => app.close());

  it('data that is not the claimed format: import fails, image queued with its formats, nothing stored, temporaries gone', async () => {
    const id = (await createImage(app, { name: 'claims-vmdk', disk_format: 'vmdk', container_format: 'bare' }, MEMBER)).id as string;
    assert.equal((await stage(app, id, rawDisk(), MEMBER)).status, 204);
    await importImage(app, id, { method: { name: 'glance-direct' } }, MEMBER);
    const image = await waitForImage(app, id, (i) => i.status === 'queued' && i.os_glance_import_task === undefined, { headers: MEMBER, timeoutMs: 30_000 });
    assert.equal(image.os_glance_failed_import, app.app.stores.default.id);
    assert.equal(image.disk_format, 'vmdk');
    assert.equal(image.size, null);
    assert.equal(image.checksum, null);
    assert.equal(image.hw_vendor, undefined, 'no half-applied plugin changes');
    assert.deepEqual(await storeKeys(app.app, app.app.stores.default.id), [], 'neither the staged data nor a converted copy is left');
    assert.deepEqual(importTemps(), []);
    const tasks = (await app.http.get(`/v2/images/${id}/tasks`).set(MEMBER)).body.tasks as Array<Record<string, unknown>>;
    assert.equal(tasks[0].status, 'failure');
    assert.match(String(tasks[0].message), /Image conversion failed: Image format mismatch/);
    assert.equal((await getImage(app, id, MEMBER)).status, 'queued');
  });
});

describe('import plugins: temporary folders of dead processes', function () {
  it('are removed once older than any live import; a fresh one, and anything not ours, stays', async () => {
    const root = mkdtempSync(join(tmpdir(), 'glint-plugin-root-'));
    try {
      for (const name of ['glint-import-dead', 'glint-import-live', 'someone-else']) {
        mkdirSync(join(root, name));
        writeFileSync(join(root, name, 'source'), 'x');
      }
      const threeDaysAgo = new Date(Date.now() - 3 * 24 * 3600_000);
      for (const name of ['glint-import-dead', 'someone-else']) utimesSync(join(root, name), threeDaysAgo, threeDaysAgo);
      assert.equal(await new ImportPlugins([], root).sweepStale(), 1);
      assert.deepEqual(readdirSync(root).sort(), ['glint-import-live', 'someone-else']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
