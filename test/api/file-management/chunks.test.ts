import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as yazl from 'yazl';
import { randomData } from '../../support/random-data';
import { startTestApp, type TestApp } from '../../support/app';
import { assertDocumented, assertError, assertNothingStaged, BASE, glanceImageIds, merge, multipartBody, postChunk, postForm, staged, textOf } from './chunk-support';

const KiB = 1024;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const UPSTREAM_REPLY_KEYS = ['checkStatus', 'fileName', 'imageId', 'msg', 'slimStatus', 'storageMedium', 'uploadTime', 'userId'];

/** A zip of `entries` (stored, no compression) built in memory. */
async function zipOf(entries: Array<[string, Buffer]>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of entries) zip.addBuffer(data, name, { compress: false });
  zip.end();
  const pieces: Buffer[] = [];
  for await (const piece of zip.outputStream) pieces.push(piece as Buffer);
  return Buffer.concat(pieces);
}

describe('EdgeGallery chunked upload (/image-management/v1/images/upload and /merge)', function () {
  let t: TestApp;
  beforeEach(async function () {
    t = await startTestApp();
  });
  afterEach(async function () {
    await t.close();
  });

  it('#24 a chunk in part field `part` named 1.part → 200 ok.; no `part` field → 400 "Upload package file error"', async function () {
    const res = await postChunk(t.http, 'upload-24', 1, randomData(KiB));
    assert.equal(res.status, 200);
    assert.equal(textOf(res), 'ok.');
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const missing = await postForm(t.http, '/images/upload', [
      { name: 'identifier', value: 'upload-24b' },
      { name: 'file', value: randomData(KiB), fileName: '1.part' },
    ]);
    assertError(missing, 400, 'Upload package file error');
    const notMultipart = await t.http.post(`${BASE}/images/upload`).set('Content-Type', 'application/octet-stream').send(randomData(KiB));
    assertError(notMultipart, 400, 'Upload package file error');
    const { uploads, chunks } = await staged(t.app);
    assert.deepEqual({ uploads, chunks }, { uploads: 1, chunks: 1 }, 'only the good chunk is staged');
  });

  it('#38 GET /images/upload and GET /images/merge are probes', async function () {
    const upload = assertDocumented(await t.http.get(`${BASE}/images/upload`), 'get', '/images/upload');
    assert.equal(upload.status, 200);
    assert.equal(textOf(upload), 'Upload get request received.');
    const mergeProbe = assertDocumented(await t.http.get(`${BASE}/images/merge`), 'get', '/images/merge');
    assert.equal(mergeProbe.status, 200);
    assert.equal(textOf(mergeProbe), 'Merge get request received.');
  });

  it('#26 #29 merge streams 1.part … N.part in order into one image (a Glance image too); the staging area is gone', async function () {
    const parts = [randomData(3 * KiB + 7), randomData(1), randomData(64 * KiB), randomData(5 * KiB)];
    // sent out of order, the identifier after the part for one of them
    for (const index of [3, 1, 4]) assert.equal((await postChunk(t.http, 'upload-26', index, parts[index - 1])).status, 200);
    const late = await postForm(t.http, '/images/upload', [
      { name: 'part', value: parts[1], fileName: '2.part' },
      { name: 'identifier', value: 'upload-26' },
    ]);
    assert.equal(late.status, 200, textOf(late));
    const res = await merge(t.http, { identifier: 'upload-26', filename: 'disk.img', userId: 'user-26', priority: '0' });
    assert.equal(res.status, 200, textOf(res));
    const reply = JSON.parse(textOf(res)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(reply).sort(), UPSTREAM_REPLY_KEYS);
    assert.equal(reply.fileName, 'disk.img');
    assert.equal(reply.userId, 'user-26');
    assert.equal(reply.slimStatus, 0);
    const whole = Buffer.concat(parts);
    const image = await t.http.get(`/v2/images/${String(reply.imageId)}`);
    assert.equal(image.body.status, 'active');
    assert.equal(image.body.size, whole.length);
    assert.equal(image.body.checksum, createHash('md5').update(whole).digest('hex'));
    const download = await t.http.get(`/v2/images/${String(reply.imageId)}/file`).buffer(true).parse((r, done) => {
      const pieces: Buffer[] = [];
      r.on('data', (piece: Buffer) => pieces.push(piece));
      r.on('end', () => done(null, Buffer.concat(pieces)));
    });
    assert.equal(sha256(download.body as Buffer), sha256(whole));
    await assertNothingStaged(t.app);
    assertError(await merge(t.http, { identifier: 'upload-26', filename: 'disk.img' }), 404, 'fail to find the file path');
  });

  it('#26 a merged .zip is unpacked as an upload is: its first file entry becomes the image', async function () {
    const inner = randomData(20 * KiB);
    const zip = await zipOf([['dir/a.qcow2', inner]]);
    const half = Math.floor(zip.length / 2);
    await postChunk(t.http, 'upload-zip', 1, zip.subarray(0, half));
    await postChunk(t.http, 'upload-zip', 2, zip.subarray(half));
    const res = await merge(t.http, { identifier: 'upload-zip', filename: 'bundle.zip', userId: 'u' });
    assert.equal(res.status, 200, textOf(res));
    const reply = JSON.parse(textOf(res)) as { fileName: string; imageId: string };
    assert.equal(reply.fileName, 'a.qcow2');
    const image = await t.http.get(`/v2/images/${reply.imageId}`);
    assert.equal(image.body.size, inner.length);
    await assertNothingStaged(t.app);
  });

  it('#25 cancel → 200 cancel success, also with nothing uploaded; staged chunks (objects and rows) are gone', async function () {
    const nothing = assertDocumented(await t.http.delete(`${BASE}/images/upload?identifier=never-uploaded`), 'delete', '/images/upload');
    assert.equal(nothing.status, 200);
    assert.equal(textOf(nothing), 'cancel success');
    for (const index of [1, 2, 3]) await postChunk(t.http, 'upload-25', index, randomData(2 * KiB));
    assert.equal((await staged(t.app)).objects.length, 3);
    // the identifier as a form field, as the portal sends it
    const cancel = assertDocumented(await t.http.delete(`${BASE}/images/upload`).type('form').send({ identifier: 'upload-25', priority: '0' }), 'delete', '/images/upload');
    assert.equal(cancel.status, 200);
    assert.equal(textOf(cancel), 'cancel success');
    await assertNothingStaged(t.app);
    assertError(await merge(t.http, { identifier: 'upload-25', filename: 'disk.img' }), 404, 'fail to find the file path');
  });

  it('#27 merge with filename a.exe, a 129-byte name or a path → 400; the chunks stay staged', async function () {
    await postChunk(t.http, 'upload-27', 1, randomData(KiB));
    for (const filename of ['a.exe', `${'n'.repeat(123)}.qcow2`, 'x.QCOW2', 'dir/a.qcow2', '']) {
      assertError(await merge(t.http, { identifier: 'upload-27', filename }), 400, 'File should only be image file or filename is larger than max size');
    }
    assert.equal((await staged(t.app)).chunks, 1);
    const accepted = await merge(t.http, { identifier: 'upload-27', filename: `${'n'.repeat(122)}.qcow2` });
    assert.equal(accepted.status, 200, 'a 128-byte name is accepted');
  });

  it('#28 merge of an unknown identifier → 404 "fail to find the file path" (decision 1: 404 for an unknown id)', async function () {
    assertError(await merge(t.http, { identifier: 'no-such-upload', filename: 'disk.img' }), 404, 'fail to find the file path');
    assert.deepEqual(await glanceImageIds(t.http), []);
  });

  it('a gap in the parts → 400 with upstream\'s two messages; nothing is stored and the chunks stay for another try', async function () {
    const parts = [randomData(KiB), randomData(KiB), randomData(KiB)];
    await postChunk(t.http, 'upload-gap', 1, parts[0]);
    await postChunk(t.http, 'upload-gap', 3, parts[2]);
    const res = await merge(t.http, { identifier: 'upload-gap', filename: 'disk.img' });
    assert.equal(res.status, 400);
    assert.equal(textOf(res), '"fail to open the part file in path""fail to merge part files"');
    assert.deepEqual(await glanceImageIds(t.http), []);
    assert.equal((await staged(t.app)).chunks, 2);
    await postChunk(t.http, 'upload-gap', 2, parts[1]);
    const merged = await merge(t.http, { identifier: 'upload-gap', filename: 'disk.img' });
    assert.equal(merged.status, 200, textOf(merged));
    const image = await t.http.get(`/v2/images/${(JSON.parse(textOf(merged)) as { imageId: string }).imageId}`);
    assert.equal(image.body.checksum, createHash('md5').update(Buffer.concat(parts)).digest('hex'));
  });

  it('re-posting a part replaces it: the old object is deleted and the merge takes the new bytes', async function () {
    const first = randomData(4 * KiB);
    const second = randomData(6 * KiB);
    await postChunk(t.http, 'upload-again', 1, first);
    const before = await staged(t.app);
    await postChunk(t.http, 'upload-again', 1, second);
    const after = await staged(t.app);
    assert.equal(after.objects.length, 1);
    assert.equal(after.chunks, 1);
    assert.notDeepEqual(after.objects, before.objects, 'the replaced chunk object is gone');
    const res = await merge(t.http, { identifier: 'upload-again', filename: 'disk.img' });
    const image = await t.http.get(`/v2/images/${(JSON.parse(textOf(res)) as { imageId: string }).imageId}`);
    assert.equal(image.body.size, second.length);
  });

  it('a client that goes away in the middle of a chunk leaves no object and no row', async function () {
    const server = createServer(t.app.koa.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { body, contentType } = multipartBody([
        { name: 'identifier', value: 'upload-cut' },
        { name: 'part', value: randomData(2 * 1024 * KiB), fileName: '1.part' },
      ]);
      const req = httpRequest({ port: (server.address() as AddressInfo).port, method: 'POST', path: `${BASE}/images/upload`, headers: { 'Content-Type': contentType, 'Content-Length': body.length } });
      req.on('error', () => undefined);
      // a third of the body, then the connection drops
      await new Promise<void>((resolve) => req.write(body.subarray(0, Math.floor(body.length / 3)), () => resolve()));
      await sleep(100);
      req.destroy();
      const temporaries = () => {
        try {
          return readdirSync(path.join(t.dir, 'data/images/.tmp'));
        } catch {
          return [];
        }
      };
      // the server notices the cut when the socket closes; it may take a moment
      const deadline = Date.now() + 10_000;
      while (((await staged(t.app)).chunks > 0 || temporaries().length > 0) && Date.now() < deadline) await sleep(50);
      await assertNothingStaged(t.app);
      assert.deepEqual(temporaries(), [], 'no temp file of the cut chunk');
      assert.equal((await postChunk(t.http, 'upload-cut', 1, randomData(KiB))).status, 200, 'the identifier takes chunks afterwards');
    } finally {
      server.close();
    }
  });

  it('priority A on a chunk → 400 "fail to save chunk file part" (decision 1), before or after the part; nothing written', async function () {
    assertError(await postChunk(t.http, 'upload-a', 1, randomData(KiB), [{ name: 'priority', value: 'A' }]), 400, 'fail to save chunk file part');
    const late = await postForm(t.http, '/images/upload', [
      { name: 'identifier', value: 'upload-a' },
      { name: 'part', value: randomData(KiB), fileName: '1.part' },
      { name: 'priority', value: 'A' },
    ]);
    assertError(late, 400, 'fail to save chunk file part');
    await assertNothingStaged(t.app);
  });
});
