import { strict as assert } from 'node:assert';
import type { TestApp } from '../../support/app';
import { makeDiskImages, type DiskImages } from '../../support/disk-images';
import { forEachStore, type StoreVariant } from '../glance-v2/support/harness';
import { assertError, assertNothingLeft, call, leftovers, md5, UPLOAD_TIME, uploaded, waitForDetails, zipEntries , type Details } from './support';

const DETAIL_KEYS = ['checkStatusResponse', 'compressInfo', 'fileName', 'imageId', 'slimStatus', 'storageMedium', 'uploadTime', 'userId'];
const IMAGE_INFO_KEYS = ['check-errors', 'disk_size', 'filename', 'format', 'image-end-offset', 'virtual_size'];

/**
 * Query, list, delete and download (checklist items 11–22, 39, 40 of edgegallery-filesystem.md
 * §13), the check's live state (13, 14 with decision 4), and the one-catalog rules with Glance; on
 * the filesystem store, s3rver and Ceph RGW.
 */
forEachStore('EdgeGallery files: query, list, delete, download', (variant: StoreVariant) => {
  let app: TestApp;
  let disks: DiskImages;
  before(async function () {
    this.timeout(60_000);
    disks = makeDiskImages();
    app = await variant.start();
  });
  after(() => app?.close());

  it('11: an unknown id → 404 "there is no record in database with imageId: <id>" (upstream master, over decision 3)', async () => {
    assertError(await call(app.http, 'get', '/images/no-such-id'), 404, 'there is no record in database with imageId: no-such-id');
    // a Glance image that is no EdgeGallery file is no record either
    const glance = await app.http.post('/v2/images').send({ name: 'plain', disk_format: 'raw', container_format: 'bare' });
    assertError(await call(app.http, 'get', `/images/${glance.body.id as string}`), 404, `there is no record in database with imageId: ${glance.body.id as string}`);
  });

  it('12–15: the query has every key; the check reads 4 "Check in Progress" until it ends, then 0, its message and the md5 of the stored bytes; filename is imageId+fileName', async () => {
    const reply = await uploaded(app.http, 'query.qcow2', disks.good.qcow2, { userId: 'u-12', priority: '' });
    const id = reply.imageId as string;
    const first = (await call(app.http, 'get', `/images/${id}`)).json as Details;
    assert.deepEqual(Object.keys(first).sort(), DETAIL_KEYS);
    assert.deepEqual(Object.keys(first.compressInfo).sort(), ['compressMsg', 'compressRate', 'compressStatus']);
    assert.deepEqual(Object.keys(first.checkStatusResponse).sort(), ['checkInfo', 'msg', 'status']);
    assert.deepEqual(Object.keys(first.checkStatusResponse.checkInfo).sort(), ['checkResult', 'checksum', 'imageInfo']);
    assert.deepEqual(Object.keys(first.checkStatusResponse.checkInfo.imageInfo).sort(), IMAGE_INFO_KEYS);
    assert.match(first.uploadTime, UPLOAD_TIME);
    assert.deepEqual([first.fileName, first.userId, first.storageMedium, first.slimStatus], ['query.qcow2', 'u-12', '/usr/app/vmImage/', 0]);
    assert.deepEqual(first.compressInfo, { compressStatus: 0, compressMsg: '', compressRate: 0 });
    // decision 4: never "0 with an empty msg" for an unchecked image
    const status = first.checkStatusResponse;
    assert.ok(status.status === 4 || (status.status === 0 && status.msg !== ''), JSON.stringify(status));
    if (status.status === 4) assert.equal(status.msg, 'Check in Progress');
    const done = await waitForDetails(app.http, id, (d) => d.checkStatusResponse.status !== 4);
    assert.equal(done.checkStatusResponse.status, 0);
    assert.equal(done.checkStatusResponse.msg, 'Check Completed, the image is (now) consistent');
    assert.equal(done.checkStatusResponse.checkInfo.checksum, md5(disks.good.qcow2));
    assert.equal(done.checkStatusResponse.checkInfo.imageInfo.format, 'qcow2');
    assert.equal(done.checkStatusResponse.checkInfo.imageInfo.filename, `${id}query.qcow2`);
  });

  it('16: the list is an array of the records, each with an empty imageInfo.filename', async () => {
    const a = await uploaded(app.http, 'list-a.img', disks.good.raw);
    const b = await uploaded(app.http, 'list-b.iso', disks.good.iso);
    const res = await call(app.http, 'get', '/images');
    assert.equal(res.status, 200);
    const list = res.json as Details[];
    assert.ok(Array.isArray(list));
    const ids = list.map((item) => item.imageId as string);
    assert.ok(ids.includes(a.imageId as string) && ids.includes(b.imageId as string));
    for (const item of list) {
      assert.deepEqual(Object.keys(item).sort(), DETAIL_KEYS);
      assert.equal(item.checkStatusResponse.checkInfo.imageInfo.filename, '');
    }
    // Glance images that are no files are not listed
    const glance = await app.http.post('/v2/images').send({ name: 'plain', disk_format: 'raw', container_format: 'bare' });
    assert.ok(!((await call(app.http, 'get', '/images')).json as Array<Record<string, unknown>>).some((item) => item.imageId === glance.body.id));
  });

  it('17, 18: delete → 200 delete success, then 404; the image is gone from Glance and the store; an unknown id is deleted too', async () => {
    const before = await leftovers(app, variant.storeId);
    const reply = await uploaded(app.http, 'gone.qcow2', disks.good.qcow2);
    const id = reply.imageId as string;
    const deleted = await call(app.http, 'delete', `/images/${id}`);
    assert.equal(deleted.status, 200);
    assert.equal(deleted.text, 'delete success');
    assert.match(deleted.headers['content-type'], /^text\/plain/);
    assertError(await call(app.http, 'get', `/images/${id}`), 404, `there is no record in database with imageId: ${id}`);
    assert.equal((await app.http.get(`/v2/images/${id}`)).status, 404);
    await assertNothingLeft(app, variant.storeId, before);
    const again = await call(app.http, 'delete', `/images/${id}`);
    assert.deepEqual([again.status, again.text], [200, 'delete success']);
    const unknown = await call(app.http, 'delete', '/images/never-was');
    assert.deepEqual([unknown.status, unknown.text], [200, 'delete success']);
  });

  it('one catalog: DELETE /v2/images/{id} makes the EdgeGallery query 404; the EdgeGallery upload is listed by Glance', async () => {
    const reply = await uploaded(app.http, 'both.img', disks.good.raw);
    const id = reply.imageId as string;
    const listed = await app.http.get('/v2/images?limit=1000');
    assert.ok((listed.body.images as Array<{ id: string }>).some((image) => image.id === id));
    assert.equal((await app.http.delete(`/v2/images/${id}`)).status, 204);
    assertError(await call(app.http, 'get', `/images/${id}`), 404, `there is no record in database with imageId: ${id}`);
    assertError(await call(app.http, 'get', `/images/${id}/action/download`), 404, "file path doesn't exist");
  });

  it('19, 22: download → the stored bytes as an attachment named fileName, octet-stream, upstream headers; isZip=false and isZip=1 are raw too', async () => {
    const reply = await uploaded(app.http, 'get me.qcow2', disks.good.qcow2);
    const id = reply.imageId as string;
    for (const query of ['', '?isZip=false', '?isZip=1']) {
      const res = await call(app.http, 'get', `/images/${id}/action/download`, { query });
      assert.equal(res.status, 200);
      assert.ok(res.bytes.equals(disks.good.qcow2), `bytes differ for ${query}`);
      assert.equal(res.headers['content-disposition'], 'attachment; filename=get me.qcow2');
      assert.equal(res.headers['content-type'], 'application/octet-stream');
      assert.equal(res.headers['content-description'], 'File Transfer');
      assert.equal(res.headers['content-transfer-encoding'], 'binary');
      assert.equal(res.headers['content-length'], String(disks.good.qcow2.length));
    }
  });

  it('download with Range → 206 and the bytes of the range', async () => {
    const reply = await uploaded(app.http, 'ranged.img', disks.good.raw);
    const id = reply.imageId as string;
    const res = await call(app.http, 'get', `/images/${id}/action/download`, { headers: { Range: 'bytes=10-99' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes 10-99/${disks.good.raw.length}`);
    assert.ok(res.bytes.equals(disks.good.raw.subarray(10, 100)));
    const bad = await call(app.http, 'get', `/images/${id}/action/download`, { headers: { Range: `bytes=${disks.good.raw.length + 5}-` } });
    assert.equal(bad.status, 416);
  });

  it('20: download of an unknown id → 404 "file path doesn\'t exist"', async () => {
    assertError(await call(app.http, 'get', '/images/no-such-id/action/download'), 404, "file path doesn't exist");
  });

  it('21: isZip=true → <stem>.zip with exactly one stored entry <stem>/<fileName> holding the bytes', async () => {
    const reply = await uploaded(app.http, 'zipped.disk.qcow2', disks.good.qcow2);
    const res = await call(app.http, 'get', `/images/${reply.imageId as string}/action/download`, { query: '?isZip=true' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-disposition'], 'attachment; filename=zipped.disk.zip');
    assert.equal(res.headers['content-length'], String(res.bytes.length), 'the length is known before the first byte');
    const entries = await zipEntries(res.bytes);
    assert.equal(entries.length, 1);
    assert.equal(entries[0].name, 'zipped.disk/zipped.disk.qcow2');
    assert.equal(entries[0].method, 0, 'stored, not deflated');
    assert.ok(entries[0].data.equals(disks.good.qcow2));
  });

  it('39: error bodies are JSON string literals', async () => {
    const res = await call(app.http, 'get', '/images/x');
    assert.equal(res.text, JSON.stringify('there is no record in database with imageId: x'));
    assert.match(res.headers['content-type'], /^application\/json/);
  });

  it('40: a CORS preflight from any origin is accepted for GET, POST and DELETE; answers carry the CORS headers', async () => {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const res = await app.http
        .options('/image-management/v1/images')
        .set('Origin', 'https://portal.example')
        .set('Access-Control-Request-Method', method)
        .set('Access-Control-Request-Headers', 'Content-Type');
      assert.equal(res.status, 200);
      assert.equal(res.headers['access-control-allow-origin'], 'https://portal.example');
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.ok(String(res.headers['access-control-allow-methods']).split(/,\s*/).includes(method));
      assert.match(String(res.headers['access-control-allow-headers']), /Content-Type/);
    }
    const get = await app.http.get('/image-management/v1/images').set('Origin', 'http://other.example');
    assert.equal(get.headers['access-control-allow-origin'], 'http://other.example');
    assert.equal(get.headers['access-control-expose-headers'], 'Content-Length');
  });
});
