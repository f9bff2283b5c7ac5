import { strict as assert } from 'node:assert';
import { request as httpRequest } from 'node:http';
import type { TestApp } from '../../support/app';
import { makeDiskImages, type DiskImages } from '../../support/disk-images';
import { forEachStore, listen, sleep, storeLeftovers, type StoreVariant } from '../glance-v2/support/harness';
import { assertError, assertNothingLeft, call, leftovers, md5, STORED_KEYS, UPLOAD_TIME, uploaded, uploadFile, UUID4 } from './support';
import { makeZip } from './zip-fixtures';

/**
 * POST /image-management/v1/images (checklist items 1–10 of edgegallery-filesystem.md §13, and
 * the bad input of the issue): real qemu-img images, on the filesystem store, s3rver and Ceph RGW.
 * Every refusal is shown to leave no image row and no object behind.
 */
forEachStore('EdgeGallery upload: POST /image-management/v1/images', (variant: StoreVariant) => {
  let app: TestApp;
  let disks: DiskImages;
  before(async function () {
    this.timeout(60_000);
    disks = makeDiskImages();
    app = await variant.start({ sections: '[edgegallery]\nzip_max_entries = 5\nzip_max_expanded_size = 20MB\n' });
  });
  after(() => app?.close());

  it('1–4: a .qcow2 part → 200 with exactly the eight keys, a v4 imageId, upload time, slimStatus 0, check started', async () => {
    const reply = await uploaded(app.http, 'disk.qcow2', disks.good.qcow2, { userId: 'dev-1', priority: '0' });
    assert.deepEqual(Object.keys(reply).sort(), STORED_KEYS);
    assert.match(reply.imageId as string, UUID4);
    assert.match(reply.uploadTime as string, UPLOAD_TIME);
    assert.deepEqual(
      { fileName: reply.fileName, userId: reply.userId, storageMedium: reply.storageMedium, slimStatus: reply.slimStatus, checkStatus: reply.checkStatus, msg: reply.msg },
      { fileName: 'disk.qcow2', userId: 'dev-1', storageMedium: '/usr/app/vmImage/', slimStatus: 0, checkStatus: 0, msg: 'Check In Progress' },
    );
  });

  it('one catalog: the upload is an active Glance image with size, checksum, sha512 and the detected disk_format; Glance never shows the surface fields', async () => {
    for (const [fileName, data, format] of [
      ['disk.qcow2', disks.good.qcow2, 'qcow2'],
      ['disk.img', disks.good.raw, 'raw'],
      ['disk.iso', disks.good.iso, 'iso'],
      ['vmdk-inside.img', disks.good.vmdk, 'vmdk'],
    ] as const) {
      const reply = await uploaded(app.http, fileName, data);
      const image = await app.http.get(`/v2/images/${reply.imageId as string}`);
      assert.equal(image.status, 200);
      assert.equal(image.body.status, 'active');
      assert.equal(image.body.name, fileName);
      assert.equal(image.body.size, data.length);
      assert.equal(image.body.checksum, md5(data));
      assert.equal(image.body.os_hash_algo, 'sha512');
      assert.equal(image.body.disk_format, format, fileName);
      assert.equal(image.body.container_format, 'bare');
      for (const key of ['fileName', 'userId', 'storageMedium', 'priority', 'requestIdCheck', 'edgegallery']) {
        assert.ok(!Object.keys(image.body as object).some((k) => k.includes(key)), `Glance shows ${key}`);
      }
      const bytes = await app.http.get(`/v2/images/${reply.imageId as string}/file`).buffer(true);
      assert.ok(Buffer.compare(bytes.body as Buffer, data) === 0, 'Glance download differs');
    }
  });

  it('fields may come after the file part (the client decides the order)', async () => {
    const res = await call(app.http, 'post', '/images', {
      parts: [
        { name: 'file', value: disks.good.qcow2, fileName: 'late.qcow2' },
        { name: 'userId', value: 'late-user' },
        { name: 'priority', value: '0' },
      ],
    });
    assert.equal(res.status, 200, res.text);
    assert.equal((res.json as Record<string, unknown>).userId, 'late-user');
    const query = await call(app.http, 'get', `/images/${(res.json as Record<string, string>).imageId}`);
    assert.equal((query.json as Record<string, unknown>).userId, 'late-user');
  });

  it('5, 6: extension (case-sensitive) and name length are checked; 128 bytes is accepted, 129 refused; nothing left', async () => {
    const before = await leftovers(app, variant.storeId);
    const name129 = `${'a'.repeat(123)}.qcow2`;
    assert.equal(Buffer.byteLength(name129), 129);
    for (const name of ['x.QCOW2', 'x.raw', 'x.tar', 'noextension', name129]) {
      const res = await uploadFile(app.http, name, disks.good.qcow2);
      assertError(res, 400, "File shouldn't contains any extension or filename is larger than max size");
    }
    await assertNothingLeft(app, variant.storeId, before);
    const name128 = `${'b'.repeat(122)}.qcow2`;
    assert.equal(Buffer.byteLength(name128), 128);
    const reply = await uploaded(app.http, name128, disks.good.qcow2);
    assert.equal(reply.fileName, name128);
  });

  it('7: no file part, a file under another field name, a file part without a filename, or no multipart body → 400 Upload package file error; nothing left', async () => {
    const before = await leftovers(app, variant.storeId);
    assertError(await call(app.http, 'post', '/images', { parts: [{ name: 'userId', value: 'u' }] }), 400, 'Upload package file error');
    assertError(await call(app.http, 'post', '/images', { parts: [{ name: 'upload', value: disks.good.qcow2, fileName: 'a.qcow2' }] }), 400, 'Upload package file error');
    assertError(await call(app.http, 'post', '/images', { parts: [{ name: 'file', value: disks.good.qcow2 }] }), 400, 'Upload package file error');
    const json = await app.http.post('/image-management/v1/images').send({ file: 'a.qcow2' });
    assert.equal(json.status, 400);
    assert.equal(JSON.parse(json.text), 'Upload package file error');
    await assertNothingLeft(app, variant.storeId, before);
  });

  it('8: priority A (and B) without a mapping → 400 fail to upload package (decision 1), also when sent after the file; nothing left', async () => {
    const before = await leftovers(app, variant.storeId);
    for (const priority of ['A', 'B']) {
      assertError(await uploadFile(app.http, 'a.qcow2', disks.good.qcow2, { priority }), 400, 'fail to upload package');
      const late = await call(app.http, 'post', '/images', { parts: [{ name: 'file', value: disks.good.qcow2, fileName: 'a.qcow2' }, { name: 'priority', value: priority }] });
      assertError(late, 400, 'fail to upload package');
    }
    await assertNothingLeft(app, variant.storeId, before);
  });

  it('9: a zip whose first file entry is dir/a.qcow2 → fileName a.qcow2, the image is the entry, no trace of the zip', async () => {
    const before = await leftovers(app, variant.storeId);
    const zip = makeZip([{ name: 'dir/' }, { name: 'dir/a.qcow2', data: disks.good.qcow2 }, { name: 'dir/readme.txt', data: Buffer.from('other entries are dropped') }]);
    const reply = await uploaded(app.http, 'bundle.zip', zip);
    assert.equal(reply.fileName, 'a.qcow2');
    const image = await app.http.get(`/v2/images/${reply.imageId as string}`);
    assert.equal(image.body.checksum, md5(disks.good.qcow2));
    assert.equal(image.body.disk_format, 'qcow2');
    const after = await leftovers(app, variant.storeId);
    assert.deepEqual(after.images, [...before.images, reply.imageId as string].sort());
    assert.deepEqual(after.keys, [...before.keys, reply.imageId as string].sort(), 'only the image object is new: the staged zip is gone');
  });

  it('10: a zip with only directory entries, or no zip at all → 400 Failed to decompress zip file (decision 1); nothing left', async () => {
    const before = await leftovers(app, variant.storeId);
    assertError(await uploadFile(app.http, 'empty.zip', makeZip([{ name: 'dir/' }, { name: 'dir/sub/' }])), 400, 'Failed to decompress zip file');
    assertError(await uploadFile(app.http, 'fake.zip', disks.good.qcow2), 400, 'Failed to decompress zip file');
    await assertNothingLeft(app, variant.storeId, before);
  });

  it('zip-slip, absolute paths, backslashes, symlinks and encrypted entries → 400 naming the entry (decision 2); nothing left', async () => {
    const before = await leftovers(app, variant.storeId);
    const data = disks.good.qcow2;
    const hostile: Array<[string, Buffer, RegExp]> = [
      ['slip.zip', makeZip([{ name: '../evil.qcow2', data }]), /\.\.\/evil\.qcow2/],
      ['deep-slip.zip', makeZip([{ name: 'ok/', data: Buffer.alloc(0) }, { name: 'ok/../../evil.qcow2', data }]), /evil\.qcow2/],
      ['absolute.zip', makeZip([{ name: '/etc/evil.qcow2', data }]), /evil\.qcow2/],
      ['backslash.zip', makeZip([{ name: '..\\evil.qcow2', data }]), /evil\.qcow2/],
      ['link.zip', makeZip([{ name: 'dir/link.qcow2', data: Buffer.from('/etc/passwd'), unixMode: 0o120777 }]), /symbolic link/],
      ['later-link.zip', makeZip([{ name: 'a.qcow2', data }, { name: 'b', data: Buffer.from('/etc/shadow'), unixMode: 0o120777 }]), /symbolic link/],
      // an encrypted entry's data starts with a 12-byte encryption header
      ['secret.zip', makeZip([{ name: 'a.qcow2', data, encrypted: true, declaredSize: data.length - 12 }]), /encrypted/],
    ];
    for (const [name, zip, message] of hostile) assertError(await uploadFile(app.http, name, zip), 400, message);
    await assertNothingLeft(app, variant.storeId, before);
  });

  it('zip bombs: more entries or more declared expanded bytes than configured → 413 (decision 2); nothing left', async () => {
    const before = await leftovers(app, variant.storeId);
    const many = makeZip(Array.from({ length: 6 }, (_, i) => ({ name: `f${i}.img`, data: Buffer.from('x') })));
    assertError(await uploadFile(app.http, 'many.zip', many), 413, /6 entries, more than the 5 allowed/);
    // 30 MiB of zeros deflate to a few KiB: the archive is small, its expansion is not
    const bomb = makeZip([{ name: 'zeros.img', data: Buffer.alloc(30 * 1024 * 1024), deflate: true }]);
    assert.ok(bomb.length < 100_000);
    assertError(await uploadFile(app.http, 'bomb.zip', bomb), 413, /expands to more than/);
    const spread = makeZip(Array.from({ length: 3 }, (_, i) => ({ name: `p${i}.img`, data: Buffer.alloc(8 * 1024 * 1024), deflate: true })));
    assertError(await uploadFile(app.http, 'spread.zip', spread), 413, /expands to more than/);
    // an entry that expands to more than it declares is cut off where its declaration ends
    const liar = makeZip([{ name: 'liar.img', data: Buffer.alloc(30 * 1024 * 1024), deflate: true, declaredSize: 4096 }]);
    assertError(await uploadFile(app.http, 'liar.zip', liar), 400, 'Failed to decompress zip file');
    await assertNothingLeft(app, variant.storeId, before);
  });

  it('data that fails format inspection (a qcow2 naming a backing file) is refused with 400; nothing left', async () => {
    const before = await leftovers(app, variant.storeId);
    const res = await uploadFile(app.http, 'backing.qcow2', disks.qcow2BackingFile);
    assertError(res, 400, /safety checks/);
    await assertNothingLeft(app, variant.storeId, before);
  });

  it('the file part streams into the store while it arrives (never buffered whole); a client that leaves mid-part leaves nothing', async function () {
    this.timeout(60_000);
    const before = await leftovers(app, variant.storeId);
    const target = await listen(app);
    try {
      const boundary = 'eg-stream-boundary';
      const req = httpRequest({ host: '127.0.0.1', port: target.port, method: 'POST', path: '/image-management/v1/images', headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}` } });
      req.on('error', () => {});
      req.write(`--${boundary}\r\nContent-Disposition: form-data; name="priority"\r\n\r\n0\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.img"\r\n\r\n`);
      // 12 MiB of a part that never ends: more than one S3 part, far more than any buffer
      for (let i = 0; i < 12; i++) await new Promise<void>((resolve, reject) => req.write(Buffer.alloc(1024 * 1024, i + 1), (err) => (err ? reject(err) : resolve())));
      let writing: string[] = [];
      for (let i = 0; i < 200 && writing.length === 0; i++) {
        writing = await storeLeftovers(app.config, variant.storeId);
        if (writing.length === 0) await sleep(50);
      }
      assert.ok(writing.length > 0, 'the store is being written before the part has ended');
      const saving = await app.http.get('/v2/images?status=saving');
      assert.equal((saving.body.images as unknown[]).length, 1, 'the image is saving');
      req.destroy();
      for (let i = 0; i < 200; i++) {
        const now = await leftovers(app, variant.storeId);
        if (now.images.length === before.images.length && now.unfinished.length === 0) break;
        await sleep(50);
      }
      await assertNothingLeft(app, variant.storeId, before);
    } finally {
      await target.close();
    }
  });
});
