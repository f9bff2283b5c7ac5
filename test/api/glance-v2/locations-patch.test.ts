import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { as, startTestApp, TRUSTED, TRUSTED_RBAC, type TestApp } from '../../support/app';
import { createTestDatabase, type TestDatabase } from '../../support/mysql';
import { bytes, createImage, download, md5, patchImage, RAW_BARE, sha512 } from './support/harness';

/**
 * The older location API: PATCH add / replace / remove of `/locations` behind
 * show_multiple_locations, with Glance 25.1's rules (its legacy policies: enforce_new_defaults off).
 */

const OWNER = as('proj-a', 'member');
const LEGACY = `${TRUSTED}[DEFAULT]\nshow_multiple_locations = true\nimage_location_quota = 3\n`;

async function putObject(app: TestApp, key: string, data: Buffer): Promise<string> {
  const { dataDir } = app.app.stores.default.details() as { dataDir: string };
  const path = join(dataDir, key);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
  return pathToFileURL(path).href;
}

const add = (url: string, position = '-', extra: Record<string, unknown> = {}) => ({ op: 'add', path: `/locations/${position}`, value: { url, metadata: {}, ...extra } });

for (const catalog of ['SQLite', 'MariaDB'] as const) describe(`Glance v2: PATCH of /locations (show_multiple_locations), catalog on ${catalog}`, function () {
  this.timeout(30_000);
  let app: TestApp;
  let db: TestDatabase | undefined;

  before(async () => {
    if (catalog === 'MariaDB') db = await createTestDatabase();
    app = await startTestApp(LEGACY, db ? { GLINT_DATABASE_CONNECTION: db.config.url } : {});
  });
  after(async () => {
    await app?.close();
    await db?.drop();
  });

  it('adds a location to a queued image: active with the object size, listed, readable; a second one goes where asked', async () => {
    const data = bytes(50_000);
    const url = await putObject(app, 'patch/one', data);
    const id = (await createImage(app, RAW_BARE, OWNER)).id as string;
    const res = await patchImage(app, id, [add(url)], OWNER);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'active');
    assert.equal(res.body.size, data.length);
    assert.deepEqual(res.body.locations, [{ url, metadata: {} }]);
    assert.ok(Buffer.compare((await download(app, id, OWNER)).body as Buffer, data) === 0);

    const url2 = await putObject(app, 'patch/two', data);
    const second = await patchImage(app, id, [add(url2, '0', { metadata: { note: 'first' } })], OWNER);
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.body.locations, [{ url: url2, metadata: { note: 'first' } }, { url, metadata: {} }]);
    assert.equal(second.body.size, data.length, 'size is read only while unknown');

    const duplicate = await patchImage(app, id, [add(url)], OWNER);
    assert.equal(duplicate.status, 400, duplicate.text);
    assert.match(duplicate.text, /already exists/);

    // removing deletes the data of that location, never the last one
    const removed = await patchImage(app, id, [{ op: 'remove', path: '/locations/1' }], OWNER);
    assert.equal(removed.status, 200, removed.text);
    assert.deepEqual(removed.body.locations, [{ url: url2, metadata: { note: 'first' } }]);
    assert.equal(existsSync(new URL(url)), false, 'the removed location lost its data, as in Glance');
    const last = await patchImage(app, id, [{ op: 'remove', path: '/locations/0' }], OWNER);
    assert.equal(last.status, 403, last.text);
    assert.match(last.text, /Cannot remove last location/);
    assert.ok(Buffer.compare((await download(app, id, OWNER)).body as Buffer, data) === 0, 'the data is read from the location left');
  });

  it("deleting an image keeps an object another image's location still names; the last image to go deletes it", async () => {
    const data = bytes(4000);
    const url = await putObject(app, 'patch/shared', data);
    const first = (await createImage(app, RAW_BARE, OWNER)).id as string;
    const second = (await createImage(app, RAW_BARE, OWNER)).id as string;
    for (const id of [first, second]) assert.equal((await patchImage(app, id, [add(url)], OWNER)).status, 200);
    assert.equal((await app.http.delete(`/v2/images/${first}`).set(OWNER)).status, 204);
    assert.ok(Buffer.compare((await download(app, second, OWNER)).body as Buffer, data) === 0, 'the other image still reads its data');
    assert.equal((await app.http.delete(`/v2/images/${second}`).set(OWNER)).status, 204);
    assert.equal(existsSync(new URL(url)), false);
  });

  it('replace: metadata of the same URLs, not another list over a non-empty one, never an empty list; a queued image goes active', async () => {
    const data = bytes(2048);
    const url = await putObject(app, 'patch/replace-1', data);
    const id = (await createImage(app, RAW_BARE, OWNER)).id as string;
    const first = await patchImage(app, id, [{ op: 'replace', path: '/locations', value: [{ url, metadata: { a: '1' } }] }], OWNER);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.status, 'active');
    assert.equal(first.body.size, data.length);
    const meta = await patchImage(app, id, [{ op: 'replace', path: '/locations', value: [{ url, metadata: { a: '2' } }] }], OWNER);
    assert.equal(meta.status, 200, meta.text);
    assert.deepEqual(meta.body.locations, [{ url, metadata: { a: '2' } }]);
    const other = await putObject(app, 'patch/replace-2', data);
    const swap = await patchImage(app, id, [{ op: 'replace', path: '/locations', value: [{ url: other, metadata: {} }] }], OWNER);
    assert.equal(swap.status, 400, swap.text);
    assert.match(swap.text, /Original locations is not empty/);
    const empty = await patchImage(app, id, [{ op: 'replace', path: '/locations', value: [] }], OWNER);
    assert.equal(empty.status, 403, empty.text);
  });

  it('refuses what Glance refuses: bad values and positions (400), the wrong status (409), over the quota (413)', async () => {
    const data = bytes(1000);
    const url = await putObject(app, 'patch/rules', data);
    const { dataDir } = app.app.stores.default.details() as { dataDir: string };
    const id = (await createImage(app, RAW_BARE, OWNER)).id as string;
    const cases: Array<[unknown[], number, RegExp?]> = [
      [[{ op: 'add', path: '/locations/-', value: { url } }], 400, /metadata/],
      [[{ op: 'add', path: '/locations/-', value: { url: 5, metadata: {} } }], 400],
      [[{ op: 'add', path: '/locations', value: { url, metadata: {} } }], 400, /Invalid JSON pointer/],
      [[add(url, 'x')], 400, /Invalid position/],
      [[add('http://example.com/image')], 400, /Invalid location/],
      [[add(pathToFileURL(join(dataDir, 'patch/missing')).href)], 400, /Invalid location/],
      [[{ op: 'remove', path: '/locations/0' }], 409, /image status is queued/],
      [[{ op: 'replace', path: '/locations', value: { url, metadata: {} } }], 400],
      [[add(url, '-', { validation_data: { os_hash_algo: 'sha256', os_hash_value: 'ab' } })], 409, /os_hash_algo must be sha512/],
      [[add(url, '-', { validation_data: { os_hash_algo: 'sha512', os_hash_value: 'abc' } })], 409, /not a valid hexadecimal/],
    ];
    for (const [operations, status, message] of cases) {
      const res = await patchImage(app, id, operations, OWNER);
      assert.equal(res.status, status, `${JSON.stringify(operations)} → ${res.status} ${res.text}`);
      if (message) assert.match(res.text, message);
    }
    const stranger = await patchImage(app, id, [add(url)], as('proj-b', 'member'));
    assert.equal(stranger.status, 404);

    // validation data fills the hashes of a queued image
    const withHashes = await patchImage(app, id, [add(url, '-', { validation_data: { checksum: md5(data), os_hash_algo: 'sha512', os_hash_value: sha512(data) } })], OWNER);
    assert.equal(withHashes.status, 200, withHashes.text);
    assert.equal(withHashes.body.checksum, md5(data));
    assert.equal(withHashes.body.os_hash_value, sha512(data));
    const different = await patchImage(app, id, [add(await putObject(app, 'patch/rules-2', data), '-', { validation_data: { os_hash_algo: 'sha512', os_hash_value: sha512(Buffer.from('x')) } })], OWNER);
    assert.equal(different.status, 409, different.text);
    assert.match(different.text, /already set with a different value/);

    for (const key of ['patch/q2', 'patch/q3']) assert.equal((await patchImage(app, id, [add(await putObject(app, key, data))], OWNER)).status, 200);
    const over = await patchImage(app, id, [add(await putObject(app, 'patch/q4', data))], OWNER);
    assert.equal(over.status, 413, over.text);
    assert.match(over.text, /Attempted: 4, Maximum: 3/);
  });
});

describe('Glance v2: PATCH of /locations, other settings', function () {
  this.timeout(30_000);

  it('is forbidden while show_multiple_locations is off, and the image shows no locations', async () => {
    const app = await startTestApp(TRUSTED);
    try {
      const url = await putObject(app, 'off/one', bytes(10));
      const id = (await createImage(app, RAW_BARE, OWNER)).id as string;
      const res = await patchImage(app, id, [add(url)], OWNER);
      assert.equal(res.status, 403, res.text);
      assert.match(res.text, /not allowed to add locations if locations are invisible/);
    } finally {
      await app.close();
    }
  });

  it("under today's default policies a member may add but only an admin may remove (delete_image_location)", async () => {
    const app = await startTestApp(`${TRUSTED_RBAC}[DEFAULT]\nshow_multiple_locations = true\n`);
    // Keystone's implied roles, spelt out: member implies reader, admin implies member
    const MEMBER = as('proj-a', 'reader,member');
    try {
      const id = (await createImage(app, RAW_BARE, MEMBER)).id as string;
      for (const key of ['rbac/one', 'rbac/two']) assert.equal((await patchImage(app, id, [add(await putObject(app, key, bytes(10)))], MEMBER)).status, 200);
      assert.equal((await patchImage(app, id, [{ op: 'remove', path: '/locations/0' }], MEMBER)).status, 403);
      const byAdmin = await patchImage(app, id, [{ op: 'remove', path: '/locations/0' }], as('proj-a', 'reader,member,admin'));
      assert.equal(byAdmin.status, 200, byAdmin.text);
    } finally {
      await app.close();
    }
  });
});
