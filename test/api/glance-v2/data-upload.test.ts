import assert from 'node:assert/strict';
import { as, TRUSTED, type TestApp } from '../../support/app';
import {
  assertBackToQueued,
  assertNoDataFor,
  bytes,
  createImage,
  download,
  EMPTY_MD5,
  forEachStore,
  getImage,
  listen,
  md5,
  RAW_BARE,
  rawPut,
  rawRequest,
  sha512,
  sleep,
  storeKeys,
  storeLeftovers,
  upload,
  waitForImage,
  type Listening,
  type StoreVariant,
} from './support/harness';

const MiB = 1024 * 1024;

/** A qcow2 v3 header announcing a virtual size of 1 GiB, followed by padding. */
function qcow2Header(virtualSize: number): Buffer {
  const head = Buffer.alloc(512);
  head.writeUInt32BE(0x514649fb, 0);
  head.writeUInt32BE(3, 4);
  head.writeBigUInt64BE(BigInt(virtualSize), 24);
  return head;
}

forEachStore('Glance v2: PUT /v2/images/{id}/file', (variant: StoreVariant) => {
  let app: TestApp;
  let server: Listening;
  before(async function () {
    app = await variant.start();
    server = await listen(app);
  });
  after(async function () {
    await server.close();
    await app.close();
  });

  it('#40 upload → 204 with an empty body; active; size, checksum (md5), sha512 os_hash_value match node crypto', async function () {
    const data = bytes(100_000);
    const image = await createImage(app);
    const id = image.id as string;
    const res = await upload(app, id, data);
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
    const after = await getImage(app, id);
    assert.equal(after.status, 'active');
    assert.equal(after.size, data.length);
    assert.equal(after.checksum, md5(data));
    assert.equal(after.os_hash_algo, 'sha512');
    assert.equal(after.os_hash_value, sha512(data));
    assert.ok(Date.parse(after.updated_at as string) >= Date.parse(image.updated_at as string));
    assert.ok((await storeKeys(app.app, variant.storeId)).includes(id), 'the data sits under the image id');
    const back = await download(app, id);
    assert.ok((back.body as Buffer).equals(data), 'the stored bytes are the uploaded bytes');
  });

  it('#40 an 11 MiB upload (several store parts) keeps every byte', async function () {
    this.timeout(60_000);
    const data = bytes(11 * MiB);
    const id = (await createImage(app)).id as string;
    assert.equal((await upload(app, id, data)).status, 204);
    const after = await getImage(app, id);
    assert.equal(after.size, data.length);
    assert.equal(after.os_hash_value, sha512(data));
    const back = await download(app, id);
    assert.equal((back.body as Buffer).length, data.length);
    assert.equal(md5(back.body as Buffer), md5(data));
  });

  it('#38 Content-Type text/plain or none → 415 and the image stays queued; parameters are ignored', async function () {
    const id = (await createImage(app)).id as string;
    const plain = await app.http.put(`/v2/images/${id}/file`).set('Content-Type', 'text/plain').send('hello');
    assert.equal(plain.status, 415);
    const none = await rawRequest(server, `PUT /v2/images/${id}/file HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`);
    assert.equal(none.status, 415);
    const json = await app.http.put(`/v2/images/${id}/file`).set('Content-Type', 'application/json').send('{}');
    assert.equal(json.status, 415);
    const image = await getImage(app, id);
    assert.equal(image.status, 'queued');
    assert.equal(image.size, null);
    const withParams = await upload(app, id, Buffer.from('hello'), { 'Content-Type': 'application/octet-stream; charset=binary' });
    assert.equal(withParams.status, 204);
  });

  it('#39 an image without disk/container format → 400 and status stays queued', async function () {
    for (const body of [{}, { disk_format: 'raw' }, { container_format: 'bare' }]) {
      const id = (await createImage(app, body)).id as string;
      const res = await upload(app, id, Buffer.from('data'));
      assert.equal(res.status, 400, JSON.stringify(body));
      const image = await getImage(app, id);
      await assertBackToQueued(app, variant.storeId, image);
    }
  });

  it('#41 a chunked upload (no Content-Length) works and records the true size', async function () {
    const id = (await createImage(app)).id as string;
    const parts = [bytes(1000), bytes(70_000), bytes(1), bytes(300_000)];
    const put = rawPut(server, `/v2/images/${id}/file`);
    for (const part of parts.slice(0, -1)) await put.write(part);
    const res = await put.finish(parts[parts.length - 1]);
    assert.equal(res.status, 204, res.body);
    const all = Buffer.concat(parts);
    const image = await getImage(app, id);
    assert.equal(image.size, all.length);
    assert.equal(image.checksum, md5(all));
    assert.equal(image.os_hash_value, sha512(all));
  });

  it('#42 an upload with neither Content-Length nor chunked → 204, size 0, checksum of empty input', async function () {
    const id = (await createImage(app)).id as string;
    const res = await rawRequest(server, `PUT /v2/images/${id}/file HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 204, res.text);
    const image = await getImage(app, id);
    assert.equal(image.status, 'active');
    assert.equal(image.size, 0);
    assert.equal(image.checksum, EMPTY_MD5);
    assert.equal(image.os_hash_value, sha512(Buffer.alloc(0)));
    assert.equal(image.virtual_size, null, 'Glance records no virtual size of 0');
  });

  it('#42 Content-Length: 0 uploads zero bytes too', async function () {
    const id = (await createImage(app)).id as string;
    assert.equal((await upload(app, id, Buffer.alloc(0))).status, 204);
    const image = await getImage(app, id);
    assert.equal(image.size, 0);
    assert.equal(image.checksum, EMPTY_MD5);
  });

  it('#43 a second PUT on an active image → 409 and the data is unchanged', async function () {
    const data = Buffer.from('first upload');
    const id = (await createImage(app)).id as string;
    assert.equal((await upload(app, id, data)).status, 204);
    const res = await upload(app, id, Buffer.from('second'));
    assert.equal(res.status, 409);
    const image = await getImage(app, id);
    assert.equal(image.checksum, md5(data));
    assert.ok(((await download(app, id)).body as Buffer).equals(data));
  });

  it('#47 raw+bare sets virtual_size = size; qcow2-labelled garbage is refused (415 as Glance 2024.2+, require_image_format_match); a qcow2 header is read', async function () {
    const raw = (await createImage(app)).id as string;
    await upload(app, raw, bytes(4096));
    assert.equal((await getImage(app, raw)).virtual_size, 4096);
    const garbage = (await createImage(app, { disk_format: 'qcow2', container_format: 'bare' })).id as string;
    assert.equal((await upload(app, garbage, Buffer.alloc(4096, 0x61))).status, 415);
    await assertBackToQueued(app, variant.storeId, await getImage(app, garbage));
    const qcow = (await createImage(app, { disk_format: 'qcow2', container_format: 'bare' })).id as string;
    await upload(app, qcow, qcow2Header(1 << 30));
    assert.equal((await getImage(app, qcow)).virtual_size, 1 << 30);
    const ovf = (await createImage(app, { disk_format: 'raw', container_format: 'ovf' })).id as string;
    await upload(app, ovf, bytes(100));
    assert.equal((await getImage(app, ovf)).virtual_size, null, 'only bare containers are inspected');
  });

  it('#47 with require_image_format_match = false, qcow2-labelled garbage is stored without a virtual size', async function () {
    const lax = await variant.start({ sections: '[image_format]\nrequire_image_format_match = false\n' });
    try {
      const garbage = (await createImage(lax, { disk_format: 'qcow2', container_format: 'bare' })).id as string;
      assert.equal((await upload(lax, garbage, Buffer.alloc(4096, 0x61))).status, 204);
      const g = await getImage(lax, garbage);
      assert.equal(g.status, 'active');
      assert.equal(g.virtual_size, null);
    } finally {
      await lax.close();
    }
  });

  it('status is saving while the body streams; a second uploader → 409; the first then completes', async function () {
    const id = (await createImage(app)).id as string;
    const first = rawPut(server, `/v2/images/${id}/file`);
    const part1 = bytes(50_000);
    await first.write(part1);
    await waitForImage(app, id, (i) => i.status === 'saving');
    const second = await upload(app, id, Buffer.from('intruder'));
    assert.equal(second.status, 409);
    const part2 = bytes(10_000);
    const res = await first.finish(part2);
    assert.equal(res.status, 204, res.body);
    const image = await getImage(app, id);
    assert.equal(image.status, 'active');
    assert.equal(image.checksum, md5(Buffer.concat([part1, part2])));
  });

  it('#46 client disconnect mid-upload → image back to queued (never killed), size null, no data kept; a retry works', async function () {
    const id = (await createImage(app)).id as string;
    const put = rawPut(server, `/v2/images/${id}/file`);
    await put.write(bytes(200_000));
    await waitForImage(app, id, (i) => i.status === 'saving');
    put.abort();
    const image = await waitForImage(app, id, (i) => i.status !== 'saving');
    assert.equal(image.virtual_size, null);
    await assertBackToQueued(app, variant.storeId, image);
    const data = bytes(1234);
    assert.equal((await upload(app, id, data)).status, 204, 'the image can be uploaded again');
    assert.equal((await getImage(app, id)).checksum, md5(data));
  });

  it('#46 a disconnect after several MiB (temp file / S3 multipart in progress) → queued, nothing left behind', async function () {
    this.timeout(60_000);
    const id = (await createImage(app)).id as string;
    const put = rawPut(server, `/v2/images/${id}/file`);
    for (let i = 0; i < 7; i++) await put.write(bytes(MiB));
    await waitForImage(app, id, (i) => i.status === 'saving');
    // make sure the abort has something to clean: a temp file, or an S3 multipart upload in progress
    let inProgress: string[] = [];
    for (let i = 0; i < 100 && inProgress.length === 0; i++) {
      inProgress = await storeLeftovers(app.config, variant.storeId);
      if (inProgress.length === 0) await sleep(50);
    }
    assert.ok(inProgress.length > 0, 'the store holds an unfinished write');
    put.abort();
    const image = await waitForImage(app, id, (i) => i.status !== 'saving');
    await assertBackToQueued(app, variant.storeId, image);
  });

  it('#46 a disconnect with a declared Content-Length (fewer bytes than announced) → queued, nothing kept', async function () {
    const id = (await createImage(app)).id as string;
    const put = rawPut(server, `/v2/images/${id}/file`, { 'Content-Length': '100000' });
    await put.write(bytes(40_000));
    await waitForImage(app, id, (i) => i.status === 'saving');
    put.abort();
    const image = await waitForImage(app, id, (i) => i.status !== 'saving');
    await assertBackToQueued(app, variant.storeId, image);
  });

  it('DELETE during an upload → 204; the uploader then gets 410 and no data is left', async function () {
    const id = (await createImage(app)).id as string;
    const put = rawPut(server, `/v2/images/${id}/file`);
    await put.write(bytes(30_000));
    await waitForImage(app, id, (i) => i.status === 'saving');
    assert.equal((await app.http.delete(`/v2/images/${id}`)).status, 204);
    const res = await put.finish(bytes(30_000));
    assert.equal(res.status, 410, res.body);
    assert.equal((await app.http.get(`/v2/images/${id}`)).status, 404);
    await assertNoDataFor(app, variant.storeId, id);
  });

  it('X-Image-Meta-Store is ignored without multi-store', async function () {
    const id = (await createImage(app)).id as string;
    const res = await upload(app, id, Buffer.from('abc'), { 'X-Image-Meta-Store': 'no-such-store' });
    assert.equal(res.status, 204);
    assert.ok((await storeKeys(app.app, variant.storeId)).includes(id));
  });

  it('uploading to a missing image → 404; to an image in uploading/importing states → 409', async function () {
    assert.equal((await upload(app, '0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f', Buffer.from('x'))).status, 404);
    const staged = (await createImage(app)).id as string;
    const stageRes = await app.http.put(`/v2/images/${staged}/stage`).set('Content-Type', 'application/octet-stream').send(Buffer.from('s'));
    assert.equal(stageRes.status, 204);
    assert.equal((await upload(app, staged, Buffer.from('x'))).status, 409);
    assert.equal((await getImage(app, staged)).status, 'uploading');
  });

  describe('image_size_cap', function () {
    let capped: TestApp;
    let cappedServer: Listening;
    before(async function () {
      capped = await variant.start({ defaults: 'image_size_cap = 1000' });
      cappedServer = await listen(capped);
    });
    after(async function () {
      await cappedServer.close();
      await capped.close();
    });

    it('#44 an upload larger than image_size_cap → 413; image back to queued with size null; nothing stored', async function () {
      const id = (await createImage(capped)).id as string;
      const res = await upload(capped, id, bytes(1001));
      assert.equal(res.status, 413);
      const image = await getImage(capped, id);
      await assertBackToQueued(capped, variant.storeId, image);
    });

    it('#44 a chunked upload crossing the cap mid-stream → 413 while the client is still sending', async function () {
      const id = (await createImage(capped)).id as string;
      const put = rawPut(cappedServer, `/v2/images/${id}/file`);
      await put.write(bytes(600));
      await put.write(bytes(600));
      const res = await put.response;
      assert.equal(res.status, 413);
      put.abort();
      const image = await getImage(capped, id);
      await assertBackToQueued(capped, variant.storeId, image);
    });

    it('#44 exactly image_size_cap bytes is fine', async function () {
      const id = (await createImage(capped)).id as string;
      assert.equal((await upload(capped, id, bytes(1000))).status, 204);
      assert.equal((await getImage(capped, id)).size, 1000);
    });

    it('#44 stage is capped too → 413 and back to queued with nothing staged', async function () {
      const id = (await createImage(capped)).id as string;
      const res = await capped.http.put(`/v2/images/${id}/stage`).set('Content-Type', 'application/octet-stream').send(bytes(2000));
      assert.equal(res.status, 413);
      const image = await getImage(capped, id);
      await assertBackToQueued(capped, variant.storeId, image);
    });
  });

  describe('user_storage_quota (trusted-auth, owner projQ)', function () {
    let quota: TestApp;
    let quotaServer: Listening;
    const Q = as('projQ');
    before(async function () {
      quota = await variant.start({ defaults: 'user_storage_quota = 1KB', sections: TRUSTED });
      quotaServer = await listen(quota);
      const first = (await createImage(quota, RAW_BARE, Q)).id as string;
      assert.equal((await upload(quota, first, bytes(600), Q)).status, 204);
    });
    after(async function () {
      await quotaServer.close();
      await quota.close();
    });

    it('#45 Content-Length beyond the remaining quota → 413 before a single body byte is sent', async function () {
      const id = (await createImage(quota, RAW_BARE, Q)).id as string;
      const put = rawPut(quotaServer, `/v2/images/${id}/file`, { ...Q, 'Content-Length': '500' });
      const res = await put.response; // nothing written: the answer must come from the headers alone
      assert.equal(res.status, 413);
      put.abort();
      const image = await getImage(quota, id, Q);
      await assertBackToQueued(quota, variant.storeId, image);
    });

    it('#45 a chunked upload crossing the remaining quota → 413 while streaming; image queued, nothing kept', async function () {
      const id = (await createImage(quota, RAW_BARE, Q)).id as string;
      const put = rawPut(quotaServer, `/v2/images/${id}/file`, Q);
      await put.write(bytes(300));
      await put.write(bytes(300));
      const res = await put.response;
      assert.equal(res.status, 413);
      put.abort();
      const image = await getImage(quota, id, Q);
      await assertBackToQueued(quota, variant.storeId, image);
    });

    it('#45 an upload that fits the remaining quota exactly works; then the owner is full', async function () {
      const id = (await createImage(quota, RAW_BARE, Q)).id as string;
      assert.equal((await upload(quota, id, bytes(424), Q)).status, 204);
      const next = (await createImage(quota, RAW_BARE, Q)).id as string;
      assert.equal((await upload(quota, next, bytes(1), Q)).status, 413);
      assert.equal((await upload(quota, next, Buffer.alloc(0), Q)).status, 204, 'zero bytes still fit');
    });

    it('#45 the quota is per owner: another project is not affected', async function () {
      const id = (await createImage(quota, RAW_BARE, as('projOther'))).id as string;
      assert.equal((await upload(quota, id, bytes(900), as('projOther'))).status, 204);
    });

    it('#45 deleting images frees quota', async function () {
      const q2 = as('projQ2');
      const a = (await createImage(quota, RAW_BARE, q2)).id as string;
      assert.equal((await upload(quota, a, bytes(1000), q2)).status, 204);
      const b = (await createImage(quota, RAW_BARE, q2)).id as string;
      assert.equal((await upload(quota, b, bytes(100), q2)).status, 413);
      assert.equal((await quota.http.delete(`/v2/images/${a}`).set(q2)).status, 204);
      assert.equal((await upload(quota, b, bytes(100), q2)).status, 204);
    });
  });
});
