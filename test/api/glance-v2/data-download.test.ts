import assert from 'node:assert/strict';
import type { Response } from 'supertest';
import { as, TRUSTED, type TestApp } from '../../support/app';
import { activeImage, bytes, createImage, download, forEachStore, md5, RAW_BARE, stage, TEN, upload, type StoreVariant } from './support/harness';

forEachStore('Glance v2: GET /v2/images/{id}/file', (variant: StoreVariant) => {
  let app: TestApp;
  let ten: string;
  let empty: string;
  before(async function () {
    app = await variant.start();
    ten = (await activeImage(app, TEN)).id as string;
    empty = (await activeImage(app, Buffer.alloc(0))).id as string;
  });
  after(async function () {
    await app?.close();
  });

  const get = (id: string, headers: Record<string, string> = {}) => download(app, id, headers);
  const expect206 = (res: Response, range: string, body: string) => {
    assert.equal(res.status, 206, `${range}: ${res.status} ${String(res.body)}`);
    assert.equal(res.headers['content-range'], range);
    assert.equal(res.headers['content-length'], String(body.length));
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.equal(res.headers['content-md5'], md5(TEN), 'Content-MD5 is the md5 of the whole image, also on 206');
    assert.equal((res.body as Buffer).toString(), body);
  };

  it('#48 an image without data → 204 with an empty body and no Content-Type (also with a Range header)', async function () {
    const queued = (await createImage(app)).id as string;
    const variants: Array<Record<string, string>> = [{}, { Range: 'bytes=0-4' }, { Range: 'bytes=-1' }, { 'Content-Range': 'bytes 0-1/2' }];
    for (const headers of variants) {
      const res = await get(queued, headers);
      assert.equal(res.status, 204, JSON.stringify(headers));
      assert.equal((res.body as Buffer).length, 0);
      assert.equal(res.headers['content-type'], undefined);
    }
  });

  it('#48 staged (uploading) data is not downloadable → 204', async function () {
    const id = (await createImage(app)).id as string;
    assert.equal((await stage(app, id, Buffer.from('staged'))).status, 204);
    assert.equal((await get(id)).status, 204);
  });

  it('#49 full download → 200, octet-stream, Content-Length = size, Content-MD5 = checksum (hex); no Accept-Ranges/ETag', async function () {
    const data = bytes(300_000);
    const image = await activeImage(app, data);
    const res = await get(image.id as string);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.equal(res.headers['content-length'], String(data.length));
    assert.equal(res.headers['content-md5'], image.checksum);
    assert.equal(res.headers['content-md5'], md5(data));
    assert.equal(res.headers['accept-ranges'], undefined);
    assert.equal(res.headers.etag, undefined);
    assert.equal(res.headers['last-modified'], undefined);
    assert.equal(res.headers['content-range'], undefined);
    assert.ok((res.body as Buffer).equals(data));
    assert.match(res.headers['x-openstack-request-id'], /^req-/);
  });

  it('#49 a zero-byte image downloads as 200 with Content-Length 0', async function () {
    const res = await get(empty);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['content-md5'], 'd41d8cd98f00b204e9800998ecf8427e');
  });

  it('#50 Range: bytes=2-5 on a 10-byte image → 206, Content-Range bytes 2-5/10, length 4, full-image Content-MD5', async function () {
    expect206(await get(ten, { Range: 'bytes=2-5' }), 'bytes 2-5/10', '2345');
  });

  it('#51 bytes=-3 → 7-9/10; bytes=3- → 3-9/10; bytes=0-100 → 0-9/10', async function () {
    expect206(await get(ten, { Range: 'bytes=-3' }), 'bytes 7-9/10', '789');
    expect206(await get(ten, { Range: 'bytes=3-' }), 'bytes 3-9/10', '3456789');
    expect206(await get(ten, { Range: 'bytes=0-100' }), 'bytes 0-9/10', '0123456789');
  });

  it('#51 edges: 0-0, 9-9, 9-, -10, -100 (whole), -0 (whole); unit case and spaces are tolerated', async function () {
    expect206(await get(ten, { Range: 'bytes=0-0' }), 'bytes 0-0/10', '0');
    expect206(await get(ten, { Range: 'bytes=9-9' }), 'bytes 9-9/10', '9');
    expect206(await get(ten, { Range: 'bytes=9-' }), 'bytes 9-9/10', '9');
    expect206(await get(ten, { Range: 'bytes=-10' }), 'bytes 0-9/10', '0123456789');
    expect206(await get(ten, { Range: 'bytes=-100' }), 'bytes 0-9/10', '0123456789');
    expect206(await get(ten, { Range: 'bytes=-0' }), 'bytes 0-9/10', '0123456789');
    expect206(await get(ten, { Range: 'Bytes=2-5' }), 'bytes 2-5/10', '2345');
    expect206(await get(ten, { Range: 'bytes = 2 - 5' }), 'bytes 2-5/10', '2345');
  });

  it('#52 bytes=20- → 416 without Content-Range; bytes=0-1,3-4 → 400; bytes=abc → 416', async function () {
    const tooFar = await get(ten, { Range: 'bytes=20-' });
    assert.equal(tooFar.status, 416);
    assert.equal(tooFar.headers['content-range'], undefined);
    assert.equal((await get(ten, { Range: 'bytes=0-1,3-4' })).status, 400);
    assert.equal((await get(ten, { Range: 'bytes=abc' })).status, 416);
  });

  it('#52 more unsatisfiable ranges → 416: items=0-4, bytes=5-2, bytes=10-, bytes=- (§0.7), bytes=, no =', async function () {
    for (const range of ['items=0-4', 'bytes=5-2', 'bytes=10-', 'bytes=10-12', 'bytes=-', 'bytes=', 'bytes', 'bytes=1-2-3', 'bytes=-1-']) {
      const res = await get(ten, { Range: range });
      assert.equal(res.status, 416, `${range}: ${res.status}`);
      assert.equal(res.headers['content-range'], undefined, range);
    }
  });

  it('#52 a 416 error body follows Accept', async function () {
    const res = await app.http.get(`/v2/images/${ten}/file`).set({ Range: 'bytes=20-', Accept: 'application/json' });
    assert.equal(res.status, 416);
    assert.equal(res.body.code, '416 Request Range Not Satisfiable');
  });

  it('ranges on a zero-byte image: bytes=0- and bytes=-5 → 416 (no bogus 206)', async function () {
    assert.equal((await get(empty, { Range: 'bytes=0-' })).status, 416);
    assert.equal((await get(empty, { Range: 'bytes=-5' })).status, 416);
    assert.equal((await get(empty, { Range: 'bytes=-0' })).status, 416);
  });

  it('#53 legacy request header Content-Range: bytes 1-3/10 (no Range) → 206 bytes 1-3/10, body 3 bytes', async function () {
    expect206(await get(ten, { 'Content-Range': 'bytes 1-3/10' }), 'bytes 1-3/10', '123');
    expect206(await get(ten, { 'Content-Range': 'bytes 1-3/*' }), 'bytes 1-3/10', '123');
    expect206(await get(ten, { 'Content-Range': 'bytes 0-9/20' }), 'bytes 0-9/10', '0123456789');
  });

  it('#53 legacy Content-Range that cannot be served → 416', async function () {
    for (const value of ['bytes 2-14/*', 'bytes 1-10/10', 'bytes 3-1/10', 'bytes 1-3', 'bytes 10-12/20', 'items 1-3/10', 'bytes a-b/10']) {
      const res = await get(ten, { 'Content-Range': value });
      assert.equal(res.status, 416, `${value}: ${res.status}`);
    }
  });

  it('#53 Range wins over the legacy Content-Range header', async function () {
    expect206(await get(ten, { Range: 'bytes=0-1', 'Content-Range': 'bytes 5-6/10' }), 'bytes 0-1/10', '01');
  });

  it('ranges inside a large image return exactly the requested slice', async function () {
    const data = bytes(2 * 1024 * 1024 + 17);
    const id = (await activeImage(app, data)).id as string;
    const start = 1024 * 1024 - 3;
    const end = 2 * 1024 * 1024 + 5;
    const res = await get(id, { Range: `bytes=${start}-${end}` });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes ${start}-${end}/${data.length}`);
    assert.ok((res.body as Buffer).equals(data.subarray(start, end + 1)));
  });

  it('download of a missing image → 404', async function () {
    assert.equal((await get('0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f')).status, 404);
  });

  describe('deactivated images (trusted-auth)', function () {
    let trusted: TestApp;
    before(async function () {
      trusted = await variant.start({ sections: TRUSTED });
    });
    after(async function () {
      await trusted.close();
    });

    it('#37 deactivated: non-admin download → 403 (also with a Range), admin → 200; reactivated → 200 for the owner', async function () {
      const A = as('projA');
      const data = Buffer.from('deactivated content');
      const id = (await createImage(trusted, RAW_BARE, A)).id as string;
      assert.equal((await upload(trusted, id, data, A)).status, 204);
      assert.equal((await trusted.http.post(`/v2/images/${id}/actions/deactivate`).set(A)).status, 204);
      assert.equal((await download(trusted, id, A)).status, 403);
      assert.equal((await download(trusted, id, { ...A, Range: 'bytes=0-1' })).status, 403);
      const admin = await download(trusted, id, as('projAdmin', 'admin'));
      assert.equal(admin.status, 200);
      assert.ok((admin.body as Buffer).equals(data));
      assert.equal((await upload(trusted, id, Buffer.from('x'), A)).status, 409);
      assert.equal((await trusted.http.post(`/v2/images/${id}/actions/reactivate`).set(A)).status, 204);
      const owner = await download(trusted, id, A);
      assert.equal(owner.status, 200);
      assert.ok((owner.body as Buffer).equals(data));
    });
  });
});
