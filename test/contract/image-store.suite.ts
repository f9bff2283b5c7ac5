import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { ImageStore, ImageStoreError, type ImageStoreErrorCode } from '../../src/index';
import { createLogger } from '../../src/lib/logger';
import { isuladFileName, sha256, writeLayoutImage } from '../support/isulad-layout';

/** A fresh, empty store: its config file, the default filesystem store's directory, scratch space. */
export interface ImageStoreTarget {
  configFile: string;
  storeDir: string;
  tmp: string;
}

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}[+-]\d{2}:\d{2}$/;
const hexId = (fill: string, last = '') => fill.repeat(64).slice(0, 64 - last.length) + last;

export function rejectsWith(code: ImageStoreErrorCode) {
  return (err: unknown) => {
    assert.ok(err instanceof ImageStoreError, `expected ImageStoreError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

/** Every object file under a filesystem store directory (relative paths, sorted). */
export function objectsIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Array<{ isFile(): boolean; parentPath: string; name: string }>)
    .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

function readRecord(root: string, id: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(root, id, 'images.json'), 'utf8')) as Record<string, unknown>;
}

/**
 * The image-store library's contract (the conformance checklist of ../shared/spec/isulad-image-store.md
 * §14 as it applies to a catalog-backed store): "restart" is close and reopen; "the file under the
 * root" is what exportLayout writes and importLayout reads.
 */
export function imageStoreContract(fresh: () => Promise<ImageStoreTarget>, options: { concurrentInProcess: boolean }): void {
  let target: ImageStoreTarget;
  let store: ImageStore;
  const opened: ImageStore[] = [];

  async function open(readonly = false): Promise<ImageStore> {
    const opening = await ImageStore.open({ configFile: target.configFile, readonly, logger: createLogger({ silent: true }) });
    opened.push(opening);
    return opening;
  }

  /** Closes every open store and opens it again. */
  async function restart(): Promise<ImageStore> {
    await Promise.all(opened.splice(0).map((item) => item.close()));
    store = await open();
    return store;
  }

  async function exported(): Promise<string> {
    const root = path.join(target.tmp, `export-${randomBytes(4).toString('hex')}`);
    await store.exportLayout(root);
    return root;
  }

  beforeEach(async () => {
    target = await fresh();
    store = await open();
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((item) => item.close()));
  });

  describe('create (items 1–4)', () => {
    it('1: without an id returns a fresh 64-hex id whose record is kept and exported as <root>/<id>/images.json', async () => {
      const id = await store.create({ layer: 'l1' });
      assert.match(id, /^[a-f0-9]{64}$/);
      assert.notEqual(await store.create(), id);
      await restart();
      assert.equal((await store.get(id)).layer, 'l1');
      const root = await exported();
      assert.equal(readRecord(root, id).id, id);
    });

    it('2: with an id already present fails with ID_IN_USE and leaves the record unchanged', async () => {
      const id = hexId('a');
      await store.create({ id, names: ['a:1'], layer: 'first', metadata: 'm' });
      await assert.rejects(store.create({ id, names: ['b:1'], layer: 'second' }), rejectsWith('ID_IN_USE'));
      const image = await store.get(id);
      assert.deepEqual([image.names, image.layer, image.metadata], [['a:1'], 'first', 'm']);
      assert.equal(await store.exists('b:1'), false);
    });

    it('validates a supplied id: 64 lowercase hex digits', async () => {
      for (const id of ['abc', hexId('A'), hexId('a') + '0', 'sha256:' + hexId('a')]) {
        await assert.rejects(store.create({ id }), rejectsWith('INVALID_ARGUMENT'));
      }
      assert.deepEqual(await store.images(), []);
    });

    it('3: with a name another image owns fails with NAME_IN_USE; neither image changes', async () => {
      const a = await store.create({ names: ['busybox:latest'] });
      await assert.rejects(store.create({ id: hexId('b'), names: ['other:1', 'busybox:latest'] }), rejectsWith('NAME_IN_USE'));
      assert.equal(await store.exists(hexId('b')), false);
      assert.equal(await store.exists('other:1'), false);
      assert.deepEqual((await store.get(a)).names, ['busybox:latest']);
      assert.equal((await store.images()).length, 1);
    });

    it('4: sets loaded to now and created to the supplied time (or now), exported as YYYY-MM-DDTHH:MM:SS.nnnnnnnnn±HH:MM', async () => {
      const before = Date.now();
      const created = new Date('2017-07-10T12:46:57.770Z');
      const a = await store.create({ created });
      const b = await store.create();
      const after = Date.now();
      const imageA = await store.get(a);
      assert.equal(imageA.created.getTime(), created.getTime());
      assert.ok(imageA.loaded.getTime() >= before && imageA.loaded.getTime() <= after);
      const imageB = await store.get(b);
      assert.equal(imageB.created.getTime(), imageB.loaded.getTime());
      const root = await exported();
      const record = readRecord(root, a);
      assert.match(record.created as string, TIME);
      assert.match(record.loaded as string, TIME);
      assert.equal(new Date(record.created as string).getTime(), created.getTime());
    });
  });

  describe('names (items 5–8)', () => {
    it('5: addName(A, n) where B owns n leaves n only on A, B keeps it lost after a restart and in its images.json', async () => {
      const a = await store.create({ names: ['a:1'] });
      const b = await store.create({ names: ['b:1', 'n:1'] });
      await store.addName(a, 'n:1');
      assert.deepEqual((await store.get(a)).names, ['a:1', 'n:1']);
      assert.deepEqual((await store.get(b)).names, ['b:1']);
      await restart();
      assert.deepEqual((await store.get(b)).names, ['b:1']);
      assert.equal(await store.lookup('n:1'), a);
      assert.deepEqual(readRecord(await exported(), b).names, ['b:1']);
    });

    it('6: addName of a name the image already has leaves its names unchanged', async () => {
      const a = await store.create({ names: ['x:1', 'y:1'] });
      await store.addName(a, 'x:1');
      assert.deepEqual((await store.get(a)).names, ['x:1', 'y:1']);
    });

    it('7: names are kept sorted byte-wise: addName z:1 then a:1 gives [a:1, z:1]', async () => {
      const a = await store.create();
      await store.addName(a, 'z:1');
      await store.addName(a, 'a:1');
      await store.addName(a, 'B:1');
      assert.deepEqual((await store.get(a)).names, ['B:1', 'a:1', 'z:1']);
      const b = await store.create({ names: ['z', 'a', 'z'] });
      assert.deepEqual((await store.get(b)).names, ['a', 'z']);
    });

    it('8: setNames(A, []) fails; duplicates are stored once; names move from other owners, which keep the loss', async () => {
      const a = await store.create({ names: ['old:1'] });
      const b = await store.create({ names: ['taken:1', 'b:1'] });
      await assert.rejects(store.setNames(a, []), rejectsWith('INVALID_ARGUMENT'));
      assert.deepEqual((await store.get(a)).names, ['old:1']);
      await store.setNames(a, ['x:1', 'x:1']);
      assert.deepEqual((await store.get(a)).names, ['x:1']);
      assert.equal(await store.exists('old:1'), false);
      await store.setNames(a, ['taken:1', 'x:1']);
      await restart();
      assert.deepEqual((await store.get(a)).names, ['taken:1', 'x:1']);
      assert.deepEqual((await store.get(b)).names, ['b:1']);
    });

    it('rejects names on an unknown image with NOT_FOUND', async () => {
      await assert.rejects(store.addName('nope:1', 'x:1'), rejectsWith('NOT_FOUND'));
      await assert.rejects(store.setNames(hexId('c'), ['x:1']), rejectsWith('NOT_FOUND'));
    });
  });

  describe('lookup and the digest index (items 9, 10, 24 in part)', () => {
    it('9: resolves an exact id, an exact name and a unique id prefix; an ambiguous prefix fails', async () => {
      const a = await store.create({ id: hexId('a', '01'), names: ['app:1'] });
      const b = await store.create({ id: hexId('a', 'b2') });
      const c = await store.create({ id: hexId('c') });
      assert.equal(await store.lookup(a), a);
      assert.equal(await store.lookup('app:1'), a);
      assert.equal(await store.lookup('c'), c);
      assert.equal(await store.lookup(b.slice(0, 63)), b);
      await assert.rejects(store.lookup('aaaa'), rejectsWith('AMBIGUOUS_REFERENCE'));
      await assert.rejects(store.lookup('d'), rejectsWith('NOT_FOUND'));
      await assert.rejects(store.lookup(''), rejectsWith('INVALID_ARGUMENT'));
      assert.equal(await store.exists('d'), false);
      assert.equal(await store.exists('c'), true);
    });

    it('tries a name before an id prefix', async () => {
      const a = await store.create({ id: hexId('a') });
      const b = await store.create({ id: hexId('b'), names: ['aaa'] });
      assert.equal(await store.lookup('aaa'), b);
      assert.equal(await store.lookup('aa'), a);
    });

    it('10: repo@<digest> resolves when the image has a tag of repo and that digest; other@<digest> does not', async () => {
      const digest = sha256('manifest-1');
      const a = await store.create({ names: ['repo:tag'], digest });
      await store.create({ names: ['test:latest'], digest: sha256('manifest-2') });
      assert.equal(await store.lookup(`repo@${digest}`), a);
      await assert.rejects(store.lookup(`other@${digest}`), rejectsWith('NOT_FOUND'));
      assert.deepEqual((await store.byDigest(digest)).map((image) => image.id), [a]);
    });

    it('indexes the manifest digest: a new manifest moves the image to its digest, the record digest stays (§5.2 with the fix)', async () => {
      const recordDigest = sha256('searchable');
      const a = await store.create({ names: ['repo:tag'], digest: recordDigest });
      await store.setBigData(a, 'manifest', 'm1');
      await store.setBigData(a, 'manifest', 'm2');
      const ids = async (digest: string) => (await store.byDigest(digest)).map((image) => image.id);
      assert.deepEqual(await ids(sha256('m2')), [a], 'the new digest list is created');
      assert.deepEqual(await ids(sha256('m1')), [], 'the previous manifest digest no longer indexes it');
      assert.deepEqual(await ids(recordDigest), [a], 'the record digest still does');
      assert.equal(await store.lookup(`repo@${sha256('m2')}`), a);
      // a manifest digest equal to the record digest keeps the image in that list when it changes
      const b = await store.create({ names: ['b:1'], digest: sha256('mb') });
      await store.setBigData(b, 'manifest', 'mb');
      await store.setBigData(b, 'manifest', 'mb2');
      assert.deepEqual(await ids(sha256('mb')), [b]);
      assert.deepEqual(await ids(sha256('mb2')), [b]);
      await assert.rejects(store.byDigest('not-a-digest'), rejectsWith('INVALID_ARGUMENT'));
    });

    it('27: get reports repoTags = tag names and repoDigests with <repo>@<digest> for each tag', async () => {
      const digest = sha256('m');
      const digestName = `localhost:5000/repo@${sha256('other')}`;
      const a = await store.create({ names: ['localhost:5000/repo:1', 'localhost:5000/repo:2', 'busybox', digestName], digest });
      const image = await store.get(a);
      assert.deepEqual(image.repoTags, ['busybox', 'localhost:5000/repo:1', 'localhost:5000/repo:2']);
      assert.deepEqual(image.repoDigests, [digestName, `busybox@${digest}`, `localhost:5000/repo@${digest}`]);
      // without a record digest the manifest's digest is used
      const b = await store.create({ names: ['x:1'] });
      assert.deepEqual((await store.get(b)).repoDigests, []);
      await store.setBigData(b, 'manifest', 'mx');
      assert.deepEqual((await store.get(b)).repoDigests, [`x@${sha256('mx')}`]);
    });

    it('28: images() returns one entry per image, and get() agrees with it', async () => {
      const ids = [await store.create(), await store.create({ names: ['n:1'] }), await store.create()];
      const all = await store.images();
      assert.deepEqual(all.map((image) => image.id).sort(), [...ids].sort());
      for (const image of all) assert.deepEqual(await store.get(image.id), image);
    });
  });

  describe('big data (items 11–15)', () => {
    it('11: exports key manifest as file manifest and sha256:<id> as = + Base64 of the key', async () => {
      const config = '{"architecture":"amd64"}';
      const id = sha256(config).slice(7);
      await store.create({ id });
      await store.setBigData(id, 'manifest', 'm');
      await store.setBigData(id, `sha256:${id}`, config);
      await store.setBigData(id, 'Manifest', 'M');
      await store.setBigData(id, 'signature-1', 's');
      const files = readdirSync(path.join(await exported(), id)).sort();
      assert.deepEqual(files, ['=TWFuaWZlc3Q=', '=c2lnbmF0dXJlLTE=', `=${Buffer.from(`sha256:${id}`).toString('base64')}`, 'images.json', 'manifest'].sort());
      assert.equal(isuladFileName(`sha256:${id}`), `=${Buffer.from(`sha256:${id}`).toString('base64')}`);
    });

    it('12: the digest is sha256 of the stored bytes and the size their length (strings, Buffers with NULs, streams)', async () => {
      const a = await store.create();
      const binary = Buffer.from([0x7b, 0x00, 0xff, 0x00, 0x7d]);
      const large = randomBytes(3 * 1024 * 1024 + 7);
      await store.setBigData(a, 'text', 'héllo');
      await store.setBigData(a, 'binary', binary);
      await store.setBigData(a, 'stream', Readable.from([large.subarray(0, 1000), large.subarray(1000)]));
      for (const [key, bytes] of [['text', Buffer.from('héllo')], ['binary', binary], ['stream', large]] as const) {
        assert.equal(await store.bigDataSize(a, key), bytes.length, key);
        assert.equal(await store.bigDataDigest(a, key), 'sha256:' + createHash('sha256').update(bytes).digest('hex'), key);
        assert.ok((await store.bigData(a, key))?.equals(bytes), key);
      }
    });

    it('13: names come in first-set order without duplicates; setting identical data again changes nothing', async () => {
      const a = await store.create();
      await store.setBigData(a, 'manifest', 'm');
      await store.setBigData(a, `sha256:${a}`, '{}');
      await store.setBigData(a, 'z', 'z');
      await store.setBigData(a, 'manifest', 'm2');
      assert.deepEqual(await store.bigDataNames(a), ['manifest', `sha256:${a}`, 'z']);
      const objects = objectsIn(target.storeDir);
      assert.equal(objects.length, 3, 'a replaced value leaves no object behind');
      const root = await exported();
      await store.setBigData(a, 'z', Buffer.from('z'));
      assert.deepEqual(objectsIn(target.storeDir), objects, 'identical data writes nothing');
      assert.deepEqual(readRecord(await exported(), a), readRecord(root, a));
      assert.deepEqual((await store.get(a)).bigDataNames, ['manifest', `sha256:${a}`, 'z']);
    });

    it('15: an empty key fails; an unknown key reads as null', async () => {
      const a = await store.create();
      await assert.rejects(store.setBigData(a, '', 'x'), rejectsWith('INVALID_ARGUMENT'));
      for (const key of ['.', '..', 'images.json']) await assert.rejects(store.setBigData(a, key, 'x'), rejectsWith('INVALID_ARGUMENT'));
      assert.equal(await store.bigData(a, 'missing'), null);
      await assert.rejects(store.bigDataSize(a, 'missing'), rejectsWith('NOT_FOUND'));
      await assert.rejects(store.bigDataDigest(a, 'missing'), rejectsWith('NOT_FOUND'));
      await assert.rejects(store.setBigData('unknown:1', 'k', 'x'), rejectsWith('NOT_FOUND'));
      assert.deepEqual(objectsIn(target.storeDir), [], 'no object is left by a refused write');
    });

    it('a source that fails halfway leaves the previous value and no object behind', async () => {
      const a = await store.create();
      await store.setBigData(a, 'k', 'old');
      const failing = new Readable({
        read() {
          this.push(Buffer.alloc(1024));
          this.destroy(new Error('source broke'));
        },
      });
      await assert.rejects(store.setBigData(a, 'k', failing), /source broke/);
      assert.equal((await store.bigData(a, 'k'))?.toString(), 'old');
      assert.equal(objectsIn(target.storeDir).length, 1);
    });

    it('26: a reader racing a writer always sees one complete value with its own size and digest', async () => {
      const a = await store.create();
      const values = [Buffer.alloc(200_000, 1), Buffer.alloc(100_000, 2)];
      await store.setBigData(a, 'k', values[0]);
      const reader = await open();
      let writing = true;
      const writer = (async () => {
        for (let i = 1; i <= 8; i++) await store.setBigData(a, 'k', values[i % 2]);
        writing = false;
      })();
      let reads = 0;
      while (writing) {
        const bytes = await reader.bigData(a, 'k');
        assert.ok(bytes && (bytes.equals(values[0]) || bytes.equals(values[1])), 'a complete value');
        reads++;
      }
      await writer;
      assert.ok(reads > 0);
      assert.equal(await reader.bigDataSize(a, 'k'), values[0].length);
      assert.equal(await reader.bigDataDigest(a, 'k'), sha256(values[0]));
    });
  });

  describe('times, metadata, delete and wipe (items 16–20)', () => {
    it('16: setLoadedTime changes only loaded, and it persists across a restart', async () => {
      const a = await store.create({ names: ['a:1'], layer: 'l', metadata: 'm', created: new Date('2020-01-01T00:00:00Z') });
      const before = await store.get(a);
      const loaded = new Date('2021-02-03T04:05:06.789Z');
      await store.setLoadedTime(a, loaded);
      await restart();
      const after = await store.get(a);
      assert.deepEqual(after, { ...before, loaded });
    });

    it('17: setMetadata then metadata returns it', async () => {
      const a = await store.create();
      assert.equal(await store.metadata(a), '');
      await store.setMetadata(a, '{x}');
      assert.equal(await store.metadata(a), '{x}');
      assert.equal((await store.get(a)).metadata, '{x}');
      await store.setSize(a, 1234);
      assert.equal((await store.get(a)).size, 1234);
    });

    it('18: delete removes the image, its names, digest entries and big-data objects; exists is false afterwards', async () => {
      const digest = sha256('m');
      const a = await store.create({ names: ['gone:1'], digest });
      await store.setBigData(a, 'manifest', 'manifest bytes');
      const keep = await store.create({ names: ['keep:1'] });
      await store.setBigData(keep, 'k', 'v');
      await store.delete('gone:1');
      assert.equal(await store.exists(a), false);
      assert.equal(await store.exists('gone:1'), false);
      assert.deepEqual(await store.byDigest(digest), []);
      assert.deepEqual(await store.byDigest(sha256('manifest bytes')), []);
      assert.equal(objectsIn(target.storeDir).length, 1);
      assert.ok(!existsSync(path.join(await exported(), a)));
      // a deleted id can be created again (image ids are content addresses)
      await store.create({ id: a, names: ['gone:1'] });
      assert.equal(await store.lookup('gone:1'), a);
    });

    it('19: delete of an unknown reference succeeds and changes nothing', async () => {
      const a = await store.create({ names: ['a:1'] });
      await store.delete('unknown:1');
      await store.delete(hexId('f'));
      assert.deepEqual((await store.images()).map((image) => image.id), [a]);
    });

    it('20: wipe removes every image and its objects; on an empty store it succeeds', async () => {
      for (let i = 0; i < 3; i++) await store.setBigData(await store.create({ names: [`w:${i}`] }), 'k', `v${i}`);
      await store.wipe();
      assert.deepEqual(await store.images(), []);
      assert.deepEqual(objectsIn(target.storeDir), []);
      await store.wipe();
    });
  });

  describe('readonly (item 25)', () => {
    it('25: every mutator fails with READ_ONLY and nothing changes; readers work', async () => {
      const a = await store.create({ names: ['ro:1'], digest: sha256('m') });
      await store.setBigData(a, 'manifest', 'm');
      const before = await exported();
      const objects = objectsIn(target.storeDir);
      const layout = path.join(target.tmp, 'ro-layout');
      writeLayoutImage(layout, { seed: 'ro' });
      const ro = await open(true);
      const mutators: Array<[string, () => Promise<unknown>]> = [
        ['create', () => ro.create({ names: ['x:1'] })],
        ['setNames', () => ro.setNames(a, ['y:1'])],
        ['addName', () => ro.addName(a, 'y:1')],
        ['delete', () => ro.delete(a)],
        ['delete unknown', () => ro.delete('unknown:1')],
        ['wipe', () => ro.wipe()],
        ['setLoadedTime', () => ro.setLoadedTime(a, new Date(0))],
        ['setMetadata', () => ro.setMetadata(a, 'x')],
        ['setSize', () => ro.setSize(a, 1)],
        ['setBigData', () => ro.setBigData(a, 'k', 'v')],
        ['importLayout', () => ro.importLayout(layout)],
      ];
      for (const [name, mutate] of mutators) await assert.rejects(mutate(), rejectsWith('READ_ONLY'), name);
      assert.equal(await ro.lookup('ro:1'), a);
      assert.equal((await ro.bigData(a, 'manifest'))?.toString(), 'm');
      assert.equal((await ro.images()).length, 1);
      const after = path.join(target.tmp, 'ro-export');
      await ro.exportLayout(after);
      assert.deepEqual(readRecord(after, a), readRecord(before, a));
      assert.deepEqual(objectsIn(target.storeDir), objects);
    });
  });

  describe('two processes on one store', () => {
    it('see each other’s changes at once', async () => {
      const other = await open();
      const a = await store.create({ names: ['shared:1'] });
      assert.equal(await other.lookup('shared:1'), a);
      await other.setBigData(a, 'k', 'from the other');
      assert.equal((await store.bigData(a, 'k'))?.toString(), 'from the other');
      await other.delete(a);
      assert.equal(await store.exists(a), false);
    });

    it('two processes adding the same names to different images at once end with exactly one owner each', async function () {
      this.timeout(60_000);
      const rounds = 20;
      const mine = [];
      const theirs = [];
      for (let i = 0; i < rounds; i++) {
        mine.push(await store.create());
        theirs.push(await store.create());
      }
      const startAt = String(Date.now() + 3500);
      const worker = path.join(__dirname, '../support/image-store-race-worker.ts');
      const run = (ids: string[]) =>
        new Promise<{ created: string | null; refused: string | null }>((resolve, reject) => {
          execFile(process.execPath, ['--require', 'tsx/cjs', worker, target.configFile, startAt, ...ids], { timeout: 50_000 }, (err, stdout, stderr) => {
            if (err) reject(new Error(`worker failed: ${stderr || err.message}`));
            else resolve(JSON.parse(stdout) as { created: string | null; refused: string | null });
          });
        });
      const outcomes = await Promise.all([run(mine), run(theirs)]);
      const all = await store.images();
      for (let round = 0; round < rounds; round++) {
        const owners = all.filter((image) => image.names.includes(`race:${round}`)).map((image) => image.id);
        assert.equal(owners.length, 1, `race:${round} has ${owners.length} owners`);
        assert.ok(owners[0] === mine[round] || owners[0] === theirs[round]);
      }
      assert.equal(outcomes.filter((outcome) => outcome.created !== null).length, 1, JSON.stringify(outcomes));
      assert.deepEqual(outcomes.filter((outcome) => outcome.created === null).map((outcome) => outcome.refused), ['NAME_IN_USE']);
    });

    it('adding one name to different images at once from two open stores ends with exactly one owner', async function () {
      // SQLite: better-sqlite3 waits for a busy database synchronously, so two writers in one
      // process block each other's event loop; the two-process test above covers SQLite.
      if (!options.concurrentInProcess) this.skip();
      const other = await open();
      const ids = [];
      for (let i = 0; i < 6; i++) ids.push(await store.create());
      for (let round = 0; round < 10; round++) {
        const name = `race:${round}`;
        await Promise.all(ids.map((id, index) => (index % 2 === 0 ? store : other).addName(id, name)));
        const owners = (await store.images()).filter((image) => image.names.includes(name));
        assert.equal(owners.length, 1, `round ${round}: ${owners.length} owners`);
        assert.equal(await other.lookup(name), owners[0].id);
      }
      // and creates racing for one name: exactly one wins, the others fail cleanly
      const results = await Promise.allSettled([0, 1, 2, 3].map((i) => (i % 2 ? store : other).create({ names: ['contested:1'] })));
      assert.equal(results.filter((result) => result.status === 'fulfilled').length, 1);
      for (const result of results) if (result.status === 'rejected') rejectsWith('NAME_IN_USE')(result.reason);
    });
  });

  describe('importLayout and exportLayout (items 14, 21–24)', () => {
    it('imports images with their big data, names, times and digests, verified against the files', async () => {
      const root = path.join(target.tmp, 'isulad');
      const one = writeLayoutImage(root, { seed: '1', names: ['imagehub.isulad.com/official/centos:latest'], extra: { 'signature-1': 'sig' } });
      const two = writeLayoutImage(root, { seed: '2', names: ['two:1'], digest: null });
      const result = await store.importLayout(root);
      assert.deepEqual(result.imported.sort(), [one.id, two.id].sort());
      assert.deepEqual(result.skipped, []);
      const image = await store.get('imagehub.isulad.com/official/centos:latest');
      assert.equal(image.id, one.id);
      assert.equal(image.digest, sha256(one.manifest));
      assert.equal(image.created.toISOString(), '2017-07-10T12:46:57.770Z');
      assert.equal(image.loaded.toISOString(), '2020-03-16T03:46:12.172Z');
      assert.deepEqual(image.bigDataNames, [`sha256:${one.id}`, 'manifest', 'signature-1']);
      assert.equal(await store.bigDataDigest(one.id, `sha256:${one.id}`), `sha256:${one.id}`);
      assert.equal(await store.bigDataDigest(one.id, 'manifest'), sha256(one.manifest));
      assert.equal(await store.bigDataSize(one.id, 'manifest'), Buffer.byteLength(one.manifest));
      assert.equal((await store.bigData(one.id, 'signature-1'))?.toString(), 'sig');
      // no digest in the record: the manifest's digest becomes it
      assert.equal((await store.get(two.id)).digest, sha256(two.manifest));
    });

    it('exports what iSulad writes and imports it back unchanged (round trip, nanoseconds kept)', async () => {
      const root = path.join(target.tmp, 'isulad');
      const one = writeLayoutImage(root, { seed: 'rt', names: ['rt:1', 'rt:2'], extra: { 'sha256:abc': 'x', empty: '' } });
      await store.importLayout(root);
      await store.setSize(one.id, 4096);
      const out = await exported();
      const record = readRecord(out, one.id);
      assert.equal(record['big-data-digests'] && (record['big-data-digests'] as Record<string, string>).manifest, sha256(one.manifest));
      assert.equal(new Date(record.created as string).getTime(), Date.parse('2017-07-10T12:46:57.770Z'));
      assert.match(record.created as string, /\.770791248[+-]\d{2}:\d{2}$/);
      assert.equal((statSync(path.join(out, one.id, 'images.json')).mode & 0o777).toString(8), '600');
      assert.equal(readFileSync(path.join(out, one.id, 'manifest'), 'utf8'), one.manifest);
      assert.ok(!existsSync(path.join(out, one.id, 'empty')), 'no file for an empty value, as iSulad');
      assert.deepEqual(readdirSync(path.join(out, one.id)).filter((name) => name.startsWith('.tmp-')), []);

      const again = path.join(target.tmp, 'second');
      writeFileSync(path.join(target.tmp, 'second.conf'), readFileSync(target.configFile));
      await store.wipe();
      const result = await store.importLayout(out);
      assert.deepEqual(result, { imported: [one.id], skipped: [] });
      await store.exportLayout(again);
      const reimported = readRecord(again, one.id);
      assert.deepEqual({ ...reimported, loaded: null }, { ...record, loaded: null });
      assert.equal(reimported.loaded, record.loaded);
      assert.equal(await store.bigDataSize(one.id, 'empty'), 0);
    });

    it('14: recomputes sizes and digests missing from images.json from the files, and exports them', async () => {
      const root = path.join(target.tmp, 'isulad');
      const one = writeLayoutImage(root, { seed: 'heal', withoutSizes: true });
      await store.importLayout(root);
      assert.equal(await store.bigDataSize(one.id, 'manifest'), Buffer.byteLength(one.manifest));
      assert.equal(await store.bigDataDigest(one.id, `sha256:${one.id}`), `sha256:${one.id}`);
      const record = readRecord(await exported(), one.id);
      assert.deepEqual(record['big-data-sizes'], { [`sha256:${one.id}`]: Buffer.byteLength(one.config), manifest: Buffer.byteLength(one.manifest) });
    });

    it('21, 22: skips (and reports) images without a parsable config, ignores non-hex directories, changes nothing in the source', async () => {
      const root = path.join(target.tmp, 'isulad');
      const good = writeLayoutImage(root, { seed: 'good' });
      const missing = writeLayoutImage(root, { seed: 'missing', config: 'missing' });
      const broken = writeLayoutImage(root, { seed: 'broken', config: 'broken' });
      const badRecord = hexId('e');
      mkdirSync(path.join(root, badRecord));
      writeFileSync(path.join(root, badRecord, 'images.json'), '{"id":');
      mkdirSync(path.join(root, 'not-an-id'));
      mkdirSync(path.join(root, hexId('D')));
      writeFileSync(path.join(root, 'stray-file'), 'x');
      const listing = () => (readdirSync(root, { recursive: true }) as string[]).sort();
      const before = listing();
      const result = await store.importLayout(root);
      assert.deepEqual(result.imported, [good.id]);
      assert.deepEqual(result.skipped.sort(), [missing.id, broken.id, badRecord].sort());
      assert.deepEqual(listing(), before, 'the source is left as it was');
      assert.deepEqual((await store.images()).map((image) => image.id), [good.id]);
      assert.deepEqual(objectsIn(target.storeDir).length, 2, 'a skipped image leaves no object');
      const again = await store.importLayout(root);
      assert.deepEqual(again.imported, []);
      assert.ok(again.skipped.includes(good.id), 'an id already in the store is skipped');
      await assert.rejects(store.importLayout(path.join(root, 'nowhere')), rejectsWith('INVALID_ARGUMENT'));
    });

    it('23: strips the default registry host and library/ from names; the later image wins a contested name', async () => {
      const root = path.join(target.tmp, 'isulad');
      const images = [
        writeLayoutImage(root, { seed: 'p1', names: ['docker.io/library/busybox:1', 'docker.io/me/app:1', 'library/nginx:1', 'busybox:1', 'contested:1'] }),
        writeLayoutImage(root, { seed: 'p2', names: ['contested:1'] }),
      ].sort((x, y) => (x.id < y.id ? -1 : 1));
      const existing = await store.create({ names: ['busybox:2', 'docker.io/library/x:1'] });
      await store.importLayout(root);
      const p1 = images.find((image) => image.manifest.includes('"p1"'));
      assert.ok(p1);
      const names = (await store.get(p1.id)).names;
      assert.deepEqual(names.filter((name) => name !== 'contested:1'), ['busybox:1', 'me/app:1', 'nginx:1']);
      assert.equal(await store.lookup('contested:1'), images[1].id, 'the image read later owns it');
      assert.deepEqual((await store.get(existing)).names, ['busybox:2', 'docker.io/library/x:1'], 'images already in the store are not renamed');
    });

    it('24: after import an image is findable by its manifest digest and, when different, by its record digest', async () => {
      const root = path.join(target.tmp, 'isulad');
      const recordDigest = sha256('another searchable digest');
      const one = writeLayoutImage(root, { seed: 'd', names: ['repo:tag'], digest: recordDigest });
      await store.importLayout(root);
      assert.deepEqual((await store.byDigest(sha256(one.manifest))).map((image) => image.id), [one.id]);
      assert.deepEqual((await store.byDigest(recordDigest)).map((image) => image.id), [one.id]);
      assert.equal(await store.lookup(`repo@${sha256(one.manifest)}`), one.id);
      assert.equal(await store.lookup(`repo@${recordDigest}`), one.id);
    });
  });
}
