import { strict as assert } from 'node:assert';
import { randomData } from '../../support/random-data';
import { startTestApp, type TestApp } from '../../support/app';
import { assertDocumented, assertError, assertNothingStaged, BASE, glanceImageIds, merge, postChunk, postForm, staged } from './chunk-support';

const KiB = 1024;

/**
 * Decision 2: an identifier or part name that could name a path (`/`, `\`, `..`, NUL) or leaves
 * the safe set (letters, digits, `.`, `_`, `-`; at most 128 bytes) → 400 with a JSON string that
 * names the problem, and nothing written: no object, no row, wherever the field sits in the form.
 */
describe('EdgeGallery chunked upload: identifiers and part names (decision 2)', function () {
  let t: TestApp;
  before(async function () {
    t = await startTestApp();
  });
  after(async function () {
    await t.close();
  });
  afterEach(async function () {
    await assertNothingStaged(t.app);
  });

  const badIdentifiers: Array<[string, RegExp]> = [
    ['../etc', /identifier contains "\/"|identifier contains "\.\."/],
    ['a/b', /identifier contains "\/"/],
    ['a\\b', /identifier contains "\\"/],
    ['up..load', /identifier contains "\.\."/],
    ['nul\u0000byte', /identifier contains a NUL byte/],
    ['spaces are odd', /identifier may only contain letters, digits/],
    ['ünïcode', /identifier may only contain letters, digits/],
    ['.', /identifier is only dots/],
    ['x'.repeat(129), /identifier is longer than 128 bytes/],
    ['', /identifier is empty/],
  ];

  for (const [identifier, problem] of badIdentifiers) {
    it(`identifier ${JSON.stringify(identifier.length > 20 ? `${identifier.slice(0, 12)}…(${identifier.length})` : identifier)} → 400 naming the problem`, async function () {
      assertError(await postChunk(t.http, identifier, 1, randomData(KiB)), 400, problem);
      // sent after the part: the chunk streams into the store first and is then refused and deleted
      const late = await postForm(t.http, '/images/upload', [
        { name: 'part', value: randomData(64 * KiB), fileName: '1.part' },
        { name: 'identifier', value: identifier },
      ]);
      assertError(late, 400, problem);
      assertError(assertDocumented(await t.http.delete(`${BASE}/images/upload`).type('form').send({ identifier }), 'delete', '/images/upload'), 400, problem);
      assertError(await merge(t.http, { identifier, filename: 'disk.img' }), 400, problem);
    });
  }

  it('no identifier at all → 400 (upstream would have written into its base folder)', async function () {
    assertError(await postForm(t.http, '/images/upload', [{ name: 'part', value: randomData(KiB), fileName: '1.part' }]), 400, /identifier is empty/);
    assertError(assertDocumented(await t.http.delete(`${BASE}/images/upload`), 'delete', '/images/upload'), 400, /identifier is empty/);
  });

  const badPartNames: Array<[string, RegExp]> = [
    ['../1.part', /part name contains "\/"|part name contains "\.\."/],
    ['x/1.part', /part name contains "\/"/],
    ['x\\1.part', /part name contains "\\"/],
    ['1.part\u0000.img', /part name contains a NUL byte/],
    ['..1.part', /part name contains "\.\."/],
    ['1 .part', /part name may only contain letters, digits/],
    ['chunk.bin', /part name must be <n>\.part/],
    ['0.part', /part name must be <n>\.part/],
    ['01.part', /part name must be <n>\.part/],
    ['1000000.part', /part name must be <n>\.part/],
    [`${'1'.repeat(125)}.part`, /part name is longer than 128 bytes/],
  ];

  for (const [partName, problem] of badPartNames) {
    it(`part name ${JSON.stringify(partName.length > 20 ? `${partName.slice(0, 12)}…(${partName.length})` : partName)} → 400 naming the problem`, async function () {
      const res = await postForm(t.http, '/images/upload', [
        { name: 'identifier', value: 'upload-names' },
        { name: 'part', value: randomData(KiB), fileName: partName },
      ]);
      assertError(res, 400, problem);
    });
  }

  it('a refused chunk leaves another upload of the same identifier as it was (no clobbering)', async function () {
    const good = randomData(2 * KiB);
    assert.equal((await postChunk(t.http, 'upload-kept', 1, good)).status, 200);
    const before = await staged(t.app);
    assertError(
      await postForm(t.http, '/images/upload', [
        { name: 'identifier', value: 'upload-kept' },
        { name: 'part', value: randomData(KiB), fileName: '../1.part' },
      ]),
      400,
      /part name/,
    );
    assert.deepEqual(await staged(t.app), before);
    const res = await merge(t.http, { identifier: 'upload-kept', filename: 'disk.img' });
    assert.equal(res.status, 200, res.text);
    const image = await t.http.get(`/v2/images/${(JSON.parse(res.text) as { imageId: string }).imageId}`);
    assert.equal(image.body.size, good.length);
    assert.equal((await glanceImageIds(t.http)).length, 1);
    await t.http.delete(`/v2/images/${image.body.id as string}`);
  });
});
