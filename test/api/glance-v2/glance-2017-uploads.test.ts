import assert from 'node:assert/strict';
import { as, startTestApp, type TestApp } from '../../support/app';
import { makeDiskImages, type DiskImages } from '../../support/disk-images';
import { assertBackToQueued, bytes, createImage, getImage, listen, md5, RAW_BARE, rawPut, stage, upload, type Listening } from './support/harness';

/**
 * Issue #15 items 6 and 7, as Glance's master (2024.2–2025.2) answers them:
 * - PUT /file of data that fails format inspection (not its disk_format, or unsafe) → 415 with
 *   WebOb's stock sentence and the inspector's finding (glance/api/v2/image_data.py,
 *   InvalidImageData → HTTPUnsupportedMediaType(detail=…)); the image is queued again.
 * - `X-OpenStack-Image-Size` on PUT /file and /stage: not an integer → 400 "Invalid or missing
 *   image size in request headers."; a byte count that differs → 400 (glance_store's size
 *   mismatch, image restored to queued); 0 = unknown; the quota is checked against it first.
 * - `GET /v2/info/usage`: the unified-limits document, for the quota glint has
 *   (`user_storage_quota` → `image_size_total`, MiB rounded down).
 */

const JSON_ACCEPT = { Accept: 'application/json' };
const STOCK_415 = 'The request media type application/octet-stream is not supported by this server.';
const MIB = 1024 * 1024;

describe('Glance API 2.17: content checks and X-OpenStack-Image-Size on upload', function () {
  let app: TestApp;
  let images: DiskImages;
  let server: Listening;
  before(async function () {
    this.timeout(60_000);
    images = makeDiskImages();
    app = await startTestApp();
    server = await listen(app);
  });
  after(async function () {
    await server?.close();
    await app?.close();
  });

  describe('content checks (item 6)', function () {
    it('PUT /file of raw bytes declared qcow2 → 415 with the finding as detail; queued again, nothing stored', async function () {
      const id = (await createImage(app, { disk_format: 'qcow2', container_format: 'bare' })).id as string;
      const res = await upload(app, id, images.good.raw, JSON_ACCEPT);
      assert.equal(res.status, 415, res.text);
      assert.equal(res.body.code, '415 Unsupported Media Type');
      assert.ok(res.body.message.startsWith(`${STOCK_415}<br /><br />\n`), res.body.message);
      assert.ok(res.body.message.includes('Image disk_format qcow2 does not match stream data raw'), res.body.message);
      await assertBackToQueued(app, 'file', await getImage(app, id));
    });

    it('PUT /file of an unsafe qcow2 (backing file) → 415 "Image failed safety checks"', async function () {
      const id = (await createImage(app, { disk_format: 'qcow2', container_format: 'bare' })).id as string;
      const res = await upload(app, id, images.qcow2BackingFile, JSON_ACCEPT);
      assert.equal(res.status, 415, res.text);
      assert.ok(res.body.message.includes('Image failed safety checks'), res.body.message);
      await assertBackToQueued(app, 'file', await getImage(app, id));
    });

    it('the same data declared with its own format is accepted: a qcow2 as qcow2, and any safe bytes as raw', async function () {
      const qcow2 = (await createImage(app, { disk_format: 'qcow2', container_format: 'bare' })).id as string;
      assert.equal((await upload(app, qcow2, images.good.qcow2)).status, 204);
      assert.equal((await getImage(app, qcow2)).virtual_size, 10 * MIB);
      const raw = (await createImage(app, RAW_BARE)).id as string;
      assert.equal((await upload(app, raw, images.good.raw)).status, 204);
    });

    it('a non-bare container is not inspected (Glance inspects bare only)', async function () {
      const id = (await createImage(app, { disk_format: 'qcow2', container_format: 'ova' })).id as string;
      assert.equal((await upload(app, id, images.good.raw)).status, 204);
    });
  });

  describe('X-OpenStack-Image-Size (item 7)', function () {
    it('equal to the data → 204, size as sent (Content-Length and chunked alike)', async function () {
      const data = bytes(70_000);
      const sized = (await createImage(app)).id as string;
      assert.equal((await upload(app, sized, data, { 'X-OpenStack-Image-Size': String(data.length) })).status, 204);
      const image = await getImage(app, sized);
      assert.equal(image.size, data.length);
      assert.equal(image.checksum, md5(data));
      const chunked = (await createImage(app)).id as string;
      const put = rawPut(server, `/v2/images/${chunked}/file`, { 'X-OpenStack-Image-Size': String(data.length) });
      await put.write(data.subarray(0, 30_000));
      assert.equal((await put.finish(data.subarray(30_000))).status, 204);
      assert.equal((await getImage(app, chunked)).size, data.length);
    });

    it('more bytes than declared → 400; queued again, nothing stored', async function () {
      const id = (await createImage(app)).id as string;
      const res = await upload(app, id, bytes(5000), { 'X-OpenStack-Image-Size': '4000', ...JSON_ACCEPT });
      assert.equal(res.status, 400, res.text);
      await assertBackToQueued(app, 'file', await getImage(app, id));
    });

    it('fewer bytes than declared (chunked) → 400; queued again, nothing stored', async function () {
      const id = (await createImage(app)).id as string;
      const put = rawPut(server, `/v2/images/${id}/file`, { 'X-OpenStack-Image-Size': '9000' });
      await put.write(bytes(3000));
      const res = await put.finish(bytes(3000));
      assert.equal(res.status, 400, res.body);
      await assertBackToQueued(app, 'file', await getImage(app, id));
    });

    it('not a non-negative integer → 400 "Invalid or missing image size in request headers.", image untouched', async function () {
      for (const value of ['abc', '-5', '1.5', '10 bytes']) {
        const id = (await createImage(app)).id as string;
        const res = await upload(app, id, bytes(10), { 'X-OpenStack-Image-Size': value, ...JSON_ACCEPT });
        assert.equal(res.status, 400, `${value}: ${res.text}`);
        assert.ok(res.body.message.startsWith('Invalid or missing image size in request headers.'), res.body.message);
        assert.equal((await getImage(app, id)).status, 'queued');
      }
    });

    it('0 means "size unknown": any byte count is accepted, as in glance_store', async function () {
      const id = (await createImage(app)).id as string;
      assert.equal((await upload(app, id, bytes(1234), { 'X-OpenStack-Image-Size': '0' })).status, 204);
      assert.equal((await getImage(app, id)).size, 1234);
    });

    it('PUT /stage checks it too: a different count → 400 and queued again; an equal one stages', async function () {
      const wrong = (await createImage(app)).id as string;
      const res = await stage(app, wrong, bytes(100), { 'X-OpenStack-Image-Size': '99' });
      assert.equal(res.status, 400, res.text);
      assert.equal((await getImage(app, wrong)).status, 'queued');
      const right = (await createImage(app)).id as string;
      assert.equal((await stage(app, right, bytes(100), { 'X-OpenStack-Image-Size': '100' })).status, 204);
      const staged = await getImage(app, right);
      assert.equal(staged.status, 'uploading');
      assert.equal(staged.size, 100);
    });

    it('the declared size is held against the owner\'s quota before any body byte is read (413)', async function () {
      const quota = await startTestApp('[DEFAULT]\nuser_storage_quota = 1000\n');
      const target = await listen(quota);
      try {
        // the unauthenticated context may create an image for another owner; the quota is that owner's
        const id = (await createImage(quota, { ...RAW_BARE, owner: 'projQ' })).id as string;
        const put = rawPut(target, `/v2/images/${id}/file`, { 'X-OpenStack-Image-Size': '5000' });
        const res = await put.response;
        assert.equal(res.status, 413, res.body);
        put.abort();
        assert.equal((await getImage(quota, id)).status, 'queued');
      } finally {
        await target.close();
        await quota.close();
      }
    });

    it('a declared size beyond image_size_cap → 413 before any body byte is read', async function () {
      const capped = await startTestApp('[DEFAULT]\nimage_size_cap = 1000\n');
      const target = await listen(capped);
      try {
        const id = (await createImage(capped)).id as string;
        const put = rawPut(target, `/v2/images/${id}/file`, { 'X-OpenStack-Image-Size': String(2 ** 50) });
        const res = await put.response;
        assert.equal(res.status, 413, res.body);
        put.abort();
        assert.equal((await getImage(capped, id)).status, 'queued');
      } finally {
        await target.close();
        await capped.close();
      }
    });
  });
});

describe('Glance API 2.17: GET /v2/info/usage (item 7)', function () {
  it('no quota configured → {"usage": {}} (Glance without unified limits)', async function () {
    const app = await startTestApp();
    try {
      const res = await app.http.get('/v2/info/usage');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { usage: {} });
    } finally {
      await app.close();
    }
  });

  it('user_storage_quota → image_size_total with the caller project\'s usage and the limit, in MiB', async function () {
    const app = await startTestApp('[DEFAULT]\nuser_storage_quota = 10MB\n[paste_deploy]\nflavor = trusted-auth\n');
    try {
      // member and reader, as a Keystone token carries them (member implies reader)
      const Q = as('projQ', 'member,reader');
      const empty = await app.http.get('/v2/info/usage').set(Q);
      assert.equal(empty.status, 200, empty.text);
      assert.deepEqual(empty.body, { usage: { image_size_total: { usage: 0, limit: 10 } } });
      const id = (await createImage(app, RAW_BARE, Q)).id as string;
      const res = await upload(app, id, bytes(3 * MIB + 5), Q);
      assert.equal(res.status, 204, res.text);
      assert.deepEqual((await app.http.get('/v2/info/usage').set(Q)).body, { usage: { image_size_total: { usage: 3, limit: 10 } } });
      assert.deepEqual((await app.http.get('/v2/info/usage').set(as('projOther', 'member,reader'))).body, { usage: { image_size_total: { usage: 0, limit: 10 } } }, 'per project');
    } finally {
      await app.close();
    }
  });
});
