import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { randomData } from '../../support/random-data';
import { startTestApp, type TestApp } from '../../support/app';
import { assertDocumented, assertNothingStaged, BASE, glanceImageIds, merge, postChunk, postForm, staged } from './chunk-support';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Requests racing on one upload: the catalog's conditional changes decide, and the answers say so. */
describe('EdgeGallery chunked upload: concurrent requests', function () {
  this.timeout(60_000);
  let t: TestApp;
  beforeEach(async function () {
    t = await startTestApp();
  });
  afterEach(async function () {
    await t.close();
  });

  async function stage(identifier: string, count: number, size: number): Promise<Buffer> {
    const parts = Array.from({ length: count }, () => randomData(size));
    await Promise.all(parts.map(async (data, i) => assert.equal((await postChunk(t.http, identifier, i + 1, data)).status, 200)));
    return Buffer.concat(parts);
  }

  it('two merges of one identifier at once: one image; the other answer is 409 (merging) or 404 (already merged)', async function () {
    const whole = await stage('upload-twice', 8, MiB);
    const answers = await Promise.all([1, 2].map(() => merge(t.http, { identifier: 'upload-twice', filename: 'disk.img', userId: 'u' })));
    const statuses = answers.map((res) => res.status).sort();
    assert.equal(statuses[0], 200, answers.map((res) => res.text).join(' | '));
    assert.ok(statuses[1] === 409 || statuses[1] === 404, `second merge: ${statuses[1]}`);
    const loser = answers.find((res) => res.status !== 200);
    assert.equal(typeof JSON.parse(loser?.text ?? ''), 'string', 'the loser gets a JSON-string error');
    const ids = await glanceImageIds(t.http);
    assert.equal(ids.length, 1, 'no double image');
    const image = await t.http.get(`/v2/images/${ids[0]}`);
    assert.equal(image.body.checksum, createHash('md5').update(whole).digest('hex'));
    await assertNothingStaged(t.app);
  });

  it('a cancel racing a merge: either the merge wins (cancel answers 409 or finds nothing) or the cancel wins (merge 404); never half of each', async function () {
    await stage('upload-cancel-race', 8, MiB);
    const [merged, cancelled] = await Promise.all([
      merge(t.http, { identifier: 'upload-cancel-race', filename: 'disk.img' }),
      t.http.delete(`${BASE}/images/upload?identifier=upload-cancel-race`).then((res) => assertDocumented(res, 'delete', '/images/upload')),
    ]);
    const images = await glanceImageIds(t.http);
    if (merged.status === 200) {
      assert.ok(cancelled.status === 409 || (cancelled.status === 200 && cancelled.text === 'cancel success'), `cancel: ${cancelled.status} ${cancelled.text}`);
      assert.equal(images.length, 1);
    } else {
      assert.equal(merged.status, 404, merged.text);
      assert.equal(cancelled.status, 200);
      assert.deepEqual(images, []);
    }
    await assertNothingStaged(t.app);
  });

  it('chunks of one upload posted concurrently (several per part) all land; the merge takes one version of each part', async function () {
    const versions = [0, 1, 2].map(() => Array.from({ length: 6 }, () => randomData(32 * KiB)));
    await Promise.all(versions.flatMap((parts) => parts.map(async (data, i) => assert.equal((await postChunk(t.http, 'upload-crowd', i + 1, data)).status, 200))));
    const { objects, chunks } = await staged(t.app);
    assert.equal(chunks, 6);
    assert.equal(objects.length, 6, 'every replaced chunk object was deleted');
    const res = await merge(t.http, { identifier: 'upload-crowd', filename: 'disk.img' });
    assert.equal(res.status, 200, res.text);
    const id = (JSON.parse(res.text) as { imageId: string }).imageId;
    const data = (await t.http.get(`/v2/images/${id}/file`).buffer(true).parse((r, done) => {
      const pieces: Buffer[] = [];
      r.on('data', (piece: Buffer) => pieces.push(piece));
      r.on('end', () => done(null, Buffer.concat(pieces)));
    })).body as Buffer;
    for (let i = 0; i < 6; i++) {
      const piece = data.subarray(i * 32 * KiB, (i + 1) * 32 * KiB);
      assert.ok(versions.some((parts) => parts[i].equals(piece)), `part ${i + 1} is one of the versions sent`);
    }
  });

  it('a chunk sent while its upload is being merged is refused (409) or starts a new upload; the merge is unaffected', async function () {
    const whole = await stage('upload-late-chunk', 8, MiB);
    const late = randomData(KiB);
    const [merged, chunk] = await Promise.all([
      merge(t.http, { identifier: 'upload-late-chunk', filename: 'disk.img' }),
      postForm(t.http, '/images/upload', [
        { name: 'identifier', value: 'upload-late-chunk' },
        { name: 'part', value: late, fileName: '9.part' },
      ]),
    ]);
    assert.equal(merged.status, 200, merged.text);
    const image = await t.http.get(`/v2/images/${(JSON.parse(merged.text) as { imageId: string }).imageId}`);
    const withLate = Buffer.concat([whole, late]);
    const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
    if (chunk.status === 409) {
      assert.equal(image.body.checksum, md5(whole));
      await assertNothingStaged(t.app);
    } else {
      assert.equal(chunk.status, 200, chunk.text);
      // taken before the claim (part of the merge) or after it (a new upload holding it alone)
      const left = await staged(t.app);
      if (image.body.checksum === md5(withLate)) assert.equal(left.chunks, 0);
      else assert.deepEqual([image.body.checksum, left.chunks], [md5(whole), 1]);
    }
  });
});
