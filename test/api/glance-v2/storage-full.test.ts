import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startTestApp, type TestApp } from '../../support/app';

/**
 * A filesystem store on a 1 MiB tmpfs, filled by an upload: Glance answers 413 "Image storage
 * media is full" (not the image_size_cap message), and nothing of the upload stays behind.
 */
describe('Glance v2: a full filesystem store', function () {
  let mountPoint: string;
  let t: TestApp;

  before(function () {
    mountPoint = mkdtempSync(path.join(tmpdir(), 'glint-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
  });
  after(function () {
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });
  beforeEach(async function () {
    t = await startTestApp(`[glance_store]\nfilesystem_store_datadir = ${mountPoint}/images\n`);
  });
  afterEach(async function () {
    await t.close();
    rmSync(path.join(mountPoint, 'images'), { recursive: true, force: true });
  });

  function filesUnder(dir: string): string[] {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => path.join(entry.parentPath, entry.name));
  }

  it('PUT /file of 2 MiB → 413 "Image storage media is full", image queued again, no file left', async function () {
    const created = await t.http.post('/v2/images').send({ name: 'big', disk_format: 'raw', container_format: 'bare' }).expect(201);
    const id = created.body.id as string;
    const res = await t.http.put(`/v2/images/${id}/file`).set('Content-Type', 'application/octet-stream').send(Buffer.alloc(2 * 1024 * 1024, 7));
    assert.equal(res.status, 413);
    assert.match(res.text, /Image storage media is full/);
    assert.doesNotMatch(res.text, /image_size_cap/);
    const image = await t.http.get(`/v2/images/${id}`).expect(200);
    assert.equal(image.body.status, 'queued');
    assert.equal(image.body.size, null);
    assert.deepEqual(filesUnder(mountPoint), []);

    // the space is free again: a small upload now succeeds
    await t.http.put(`/v2/images/${id}/file`).set('Content-Type', 'application/octet-stream').send(Buffer.alloc(1024, 1)).expect(204);
    assert.equal((await t.http.get(`/v2/images/${id}`).expect(200)).body.status, 'active');
  });

  it('PUT /stage into a full store → 413 and the image is queued again with no staged object', async function () {
    const created = await t.http.post('/v2/images').send({ name: 'staged', disk_format: 'raw', container_format: 'bare' }).expect(201);
    const id = created.body.id as string;
    const res = await t.http.put(`/v2/images/${id}/stage`).set('Content-Type', 'application/octet-stream').send(Buffer.alloc(2 * 1024 * 1024, 7));
    assert.equal(res.status, 413);
    assert.match(res.text, /Image storage media is full/);
    assert.equal((await t.http.get(`/v2/images/${id}`).expect(200)).body.status, 'queued');
    assert.deepEqual(filesUnder(mountPoint), []);
  });
});
