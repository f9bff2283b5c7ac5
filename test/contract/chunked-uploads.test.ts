import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KnexCatalog } from '../../src/catalog/knex-catalog';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { isGlintError } from '../../src/domain/errors';
import type { UploadName } from '../../src/domain/file-management/chunked-upload-repository';
import { useMigratedCatalog } from '../support/mysql';

type OpenPair = () => Promise<[KnexCatalog, KnexCatalog]>;

const HOUR = 3600_000;
let keys = 0;
const freshKey = () => `chunks/contract-${process.pid}-${++keys}`;
const chunk = (index: number, objectKey = freshKey(), size = 10) => ({ index, objectKey, size, md5: 'd41d8cd98f00b204e9800998ecf8427e' });
const at = (ms: number) => new Date(ms);

/**
 * The chunked-upload repository as nodes see it: two catalogs (two pools, two "nodes") on one
 * database, every race run for real between them.
 */
function chunkedUploadContract(openPair: OpenPair): void {
  let first: KnexCatalog;
  let second: KnexCatalog;
  let n = 0;
  let name: UploadName;
  const options = (now = Date.now(), storeId = 'default') => ({ storeId, owner: 'project-a', userId: 'user-a', now: at(now), expiresAt: at(now + HOUR) });

  beforeEach(async function () {
    [first, second] = await openPair();
    name = { surface: 'edgegallery', clientKey: `upload-${++n}` };
  });

  it('the first chunk creates the upload (receiving, in its store); chunks come back in part order', async function () {
    const now = Date.now();
    for (const index of [3, 1, 2]) await first.chunkedUploads.putChunk(name, chunk(index), options(now, 'fast'));
    const upload = await second.chunkedUploads.find(name);
    assert.ok(upload);
    assert.equal(upload.status, 'receiving');
    assert.equal(upload.storeId, 'fast');
    assert.equal(upload.clientKey, name.clientKey);
    assert.equal(upload.expiresAt.getTime(), now + HOUR);
    assert.deepEqual((await second.chunkedUploads.chunks(upload.id)).map((c) => c.index), [1, 2, 3]);
    assert.equal(await second.chunkedUploads.find({ surface: 'other-surface', clientKey: name.clientKey }), null, 'identifiers are per surface');
  });

  it('re-posting a part replaces its chunk and hands back the old object', async function () {
    const old = chunk(1);
    assert.deepEqual(await first.chunkedUploads.putChunk(name, old, options()), { replaced: null });
    const fresh = chunk(1, freshKey(), 20);
    assert.deepEqual(await second.chunkedUploads.putChunk(name, fresh, options()), { replaced: { storeId: 'default', key: old.objectKey } });
    const upload = await first.chunkedUploads.find(name);
    const chunks = await first.chunkedUploads.chunks(upload?.id ?? '');
    assert.deepEqual(chunks.map((c) => [c.index, c.objectKey, c.size]), [[1, fresh.objectKey, 20]]);
  });

  it('ten concurrent posts of one part on two nodes: one chunk stays, every other object is handed back once', async function () {
    const posted = Array.from({ length: 10 }, () => chunk(1));
    const results = await Promise.all(posted.map((c, i) => (i % 2 ? first : second).chunkedUploads.putChunk(name, c, options())));
    const upload = await first.chunkedUploads.find(name);
    const [kept] = await first.chunkedUploads.chunks(upload?.id ?? '');
    const replaced = results.map((r) => r.replaced?.key).filter((key): key is string => key !== undefined);
    assert.equal(replaced.length, 9);
    assert.deepEqual([...replaced, kept.objectKey].sort(), posted.map((c) => c.objectKey).sort());
  });

  it('concurrent first chunks of one new upload on two nodes make one upload holding both', async function () {
    await Promise.all([1, 2, 3, 4].map((index) => (index % 2 ? first : second).chunkedUploads.putChunk(name, chunk(index), options())));
    const upload = await first.chunkedUploads.find(name);
    assert.deepEqual((await first.chunkedUploads.chunks(upload?.id ?? '')).map((c) => c.index), [1, 2, 3, 4]);
  });

  it('a merge claim: one of two concurrent claims wins; chunks are refused while it holds the upload', async function () {
    await first.chunkedUploads.putChunk(name, chunk(1), options());
    await first.chunkedUploads.putChunk(name, chunk(2), options());
    const now = Date.now();
    const claims = await Promise.all([first, second].map((catalog) => catalog.chunkedUploads.claimMerge(name, at(now + HOUR), at(now))));
    const won = claims.filter((claim) => claim !== null);
    assert.equal(won.length, 1);
    assert.equal(won[0]?.upload.status, 'merging');
    assert.deepEqual(won[0]?.chunks.map((c) => c.index), [1, 2]);
    await assert.rejects(second.chunkedUploads.putChunk(name, chunk(3), options()), (err) => isGlintError(err, 'CHUNKED_UPLOAD_BUSY'));
    assert.equal(await first.chunkedUploads.remove(won[0]?.upload.id ?? '', { status: 'receiving' }), null, 'a cancel does not remove a merging upload');
    assert.equal(await first.chunkedUploads.claimMerge({ ...name, clientKey: 'no-such-upload' }, at(now + HOUR), at(now)), null);
  });

  it('a chunk racing a merge claim is either in the claim or refused, never recorded behind it', async function () {
    for (let round = 0; round < 10; round++) {
      const race: UploadName = { surface: name.surface, clientKey: `${name.clientKey}-race-${round}` };
      await first.chunkedUploads.putChunk(race, chunk(1), options());
      const late = chunk(2);
      const now = Date.now();
      const [put, claim] = await Promise.allSettled([
        second.chunkedUploads.putChunk(race, late, options()),
        first.chunkedUploads.claimMerge(race, at(now + HOUR), at(now)),
      ]);
      assert.equal(claim.status, 'fulfilled');
      const claimed = claim.value;
      assert.ok(claimed);
      const inClaim = claimed.chunks.some((c) => c.objectKey === late.objectKey);
      if (put.status === 'fulfilled') assert.ok(inClaim, `round ${round}: an accepted chunk is part of the merge`);
      else assert.ok(isGlintError(put.reason, 'CHUNKED_UPLOAD_BUSY') && !inClaim, `round ${round}: ${String(put.reason)}`);
      assert.deepEqual((await first.chunkedUploads.chunks(claimed.upload.id)).map((c) => c.objectKey), claimed.chunks.map((c) => c.objectKey));
    }
  });

  it('renewMerge holds a merging upload; releaseMerge hands it back to receiving', async function () {
    await first.chunkedUploads.putChunk(name, chunk(1), options());
    const now = Date.now();
    const claim = await first.chunkedUploads.claimMerge(name, at(now + 1000), at(now));
    const id = claim?.upload.id ?? '';
    assert.equal(await second.chunkedUploads.renewMerge(id, at(now + 5000)), true);
    assert.equal((await first.chunkedUploads.find(name))?.expiresAt.getTime(), now + 5000);
    assert.equal(await second.chunkedUploads.releaseMerge(id, at(now + HOUR), at(now)), true);
    assert.equal((await first.chunkedUploads.find(name))?.status, 'receiving');
    assert.equal(await first.chunkedUploads.renewMerge(id, at(now + HOUR)), false, 'only a merging upload is renewed');
    assert.equal(await first.chunkedUploads.releaseMerge(id, at(now + HOUR), at(now)), false);
    assert.ok(await first.chunkedUploads.putChunk(name, chunk(2), options()), 'chunks are taken again');
  });

  it('remove deletes the rows and returns every chunk object; the catalog no longer references them', async function () {
    const staged = [chunk(1), chunk(2)];
    for (const c of staged) await first.chunkedUploads.putChunk(name, c, options());
    const upload = await first.chunkedUploads.find(name);
    const stagedKeys = staged.map((c) => c.objectKey);
    assert.deepEqual([...(await first.images.referencedKeys('default', stagedKeys))].sort(), [...stagedKeys].sort(), 'staged chunks are referenced (the orphan sweep keeps them)');
    const removals = await Promise.all([first, second].map((catalog) => catalog.chunkedUploads.remove(upload?.id ?? '', { status: 'receiving' })));
    const done = removals.filter((objects) => objects !== null);
    assert.equal(done.length, 1, 'one of two concurrent removals removes');
    assert.deepEqual(done[0]?.map((o) => o.key).sort(), [...stagedKeys].sort());
    assert.equal(await second.chunkedUploads.find(name), null);
    assert.deepEqual(await second.chunkedUploads.chunks(upload?.id ?? ''), []);
    assert.equal((await first.images.referencedKeys('default', stagedKeys)).size, 0);
  });

  it('expiry: findExpired lists uploads past their expiry; a chunk arriving in time keeps its upload', async function () {
    const now = Date.now();
    await first.chunkedUploads.putChunk(name, chunk(1), { ...options(now - 2 * HOUR), expiresAt: at(now - HOUR) });
    const fresh: UploadName = { ...name, clientKey: `${name.clientKey}-fresh` };
    await first.chunkedUploads.putChunk(fresh, chunk(1), options(now));
    const expired = await second.chunkedUploads.findExpired(at(now), 100);
    const ids = expired.map((u) => u.clientKey);
    assert.ok(ids.includes(name.clientKey));
    assert.ok(!ids.includes(fresh.clientKey));
    const upload = expired.find((u) => u.clientKey === name.clientKey);
    // a chunk lands between the sweep's query and its delete: the delete no longer applies
    await first.chunkedUploads.putChunk(name, chunk(2), options(now));
    assert.equal(await second.chunkedUploads.remove(upload?.id ?? '', { expiredBefore: at(now) }), null);
    assert.equal((await first.chunkedUploads.chunks(upload?.id ?? '')).length, 2);
    const objects = await second.chunkedUploads.remove(upload?.id ?? '', { expiredBefore: at(now + 2 * HOUR) });
    assert.equal(objects?.length, 2);
  });
}

describe('chunked-upload catalog', function () {
  // better-sqlite3 is synchronous: a second connection in this process waiting on the first's lock
  // blocks the event loop the first needs to finish. Both "nodes" share one connection here (their
  // transactions queue on it), as the requests of one glint process do.
  describe('on SQLite (a database file)', function () {
    let directory: string;
    const opened: KnexCatalog[] = [];
    beforeEach(function () {
      directory = fs.mkdtempSync(path.join(os.tmpdir(), 'glint-chunked-'));
    });
    afterEach(async function () {
      await Promise.all(opened.splice(0).map((catalog) => catalog.close()));
      fs.rmSync(directory, { recursive: true, force: true });
    });
    chunkedUploadContract(async () => {
      const url = `sqlite:///${path.join(directory, 'glint.db')}`;
      const first = await KnexCatalog.open(parseDatabaseUrl(url));
      opened.push(first);
      await first.migrate();
      return [first, first];
    });
  });

  describe('on MariaDB (two pools on one database)', function () {
    const fixture = useMigratedCatalog();
    let second: KnexCatalog;
    before(async function () {
      second = await KnexCatalog.open(parseDatabaseUrl(fixture.database.config.url));
    });
    after(async function () {
      await second?.close();
    });
    chunkedUploadContract(async () => {
      await fixture.empty(['upload_chunks', 'chunked_uploads']);
      return [fixture.catalog, second];
    });
  });
});
