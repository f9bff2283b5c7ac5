import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { isGlintError } from '../../src/domain/errors';
import type { Image, ImageStatus, MemberStatus, Visibility } from '../../src/domain/image';
import type { KnexCatalog } from '../../src/catalog/knex-catalog';
import { migrationSource } from '../../migrations';
import { newImageRecord } from '../support/records';
import { defaultListQuery } from '../support/list-query';
import type {
  ColumnFilter,
  ImageListQuery,
  ListScope,
  NewImage,
  SortDirection,
  SortKey,
  TaskListQuery,
} from '../../src/domain/repositories';
import type { NewTask } from '../../src/domain/jobs/task';

/**
 * The behaviour every catalog backend must show. `freshCatalog` returns a migrated catalog with no
 * rows that no other running test uses; the caller owns closing it.
 */
export function catalogContract(freshCatalog: () => Promise<KnexCatalog>): void {
  let catalog: KnexCatalog;

  beforeEach(async () => {
    catalog = await freshCatalog();
  });

  const T0 = Date.UTC(2024, 0, 1, 12, 0, 0);

  const newImage = newImageRecord;

  /** GET /v2/images's default query widened for these tests: community images too, hidden ones too, up to 1000. */
  function listQuery(overrides: Partial<ImageListQuery> = {}): ImageListQuery {
    return defaultListQuery({
      scope: { kind: 'everything', projectId: null, includeAllCommunity: true },
      filters: [],
      limit: 1000,
      ...overrides,
    });
  }

  async function listNames(overrides: Partial<ImageListQuery>): Promise<string[]> {
    const images = await catalog.images.list(listQuery(overrides));
    return images.map((image) => image.name ?? '<null>').sort();
  }

  async function rejectsWith(promise: Promise<unknown>, code: 'IMAGE_ID_IN_USE' | 'MEMBER_EXISTS' | 'IMAGE_NOT_FOUND'): Promise<void> {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(isGlintError(err, code), `expected GlintError ${code}, got ${String(err)}`);
      return true;
    });
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  describe('images: create and get', () => {
    it('creates an image with the catalog defaults and reads it back', async () => {
      const before = Date.now();
      const created = await catalog.images.create(newImage({ id: 'c0a80a2b-0000-4000-8000-000000000001' }));
      const after = Date.now();
      assert.equal(created.id, 'c0a80a2b-0000-4000-8000-000000000001');
      assert.equal(created.revision, 1);
      assert.ok(created.createdAt instanceof Date);
      assert.ok(created.createdAt.getTime() >= before && created.createdAt.getTime() <= after);
      assert.deepEqual(created.updatedAt, created.createdAt);
      assert.equal(created.deletedAt, null);
      assert.deepEqual(created.properties, {});
      assert.deepEqual(created.tags, []);
      assert.deepEqual(created.locations, []);
      assert.deepEqual(await catalog.images.get(created.id), created);
    });

    it('round-trips every field, properties and tags', async () => {
      const createdAt = new Date(T0 + 123);
      const input = newImage({
        id: 'a'.repeat(64),
        name: 'Ubuntu 24.04 — 𝒰𝓃𝒾𝒸ℴ𝒹ℯ',
        status: 'active',
        visibility: 'community',
        protected: true,
        osHidden: true,
        checksum: 'd41d8cd98f00b204e9800998ecf8427e',
        osHashAlgo: 'sha512',
        osHashValue: 'f'.repeat(128),
        owner: 'project-a',
        size: 5 * 1024 ** 4 + 7,
        virtualSize: 2 ** 52,
        minRam: 2147483647,
        minDisk: 40,
        containerFormat: 'bare',
        diskFormat: 'qcow2',
        properties: { os_distro: 'ubuntu', ['x'.repeat(255)]: 'long key', empty: '', text: 'é'.repeat(3000) },
        tags: ['b', 'a', 'a', '🏷️'],
        createdAt,
      });
      const created = await catalog.images.create(input);
      const expected: Image = {
        ...input,
        createdAt,
        updatedAt: createdAt,
        deletedAt: null,
        revision: 1,
        tags: ['a', 'b', '🏷️'],
        locations: [],
      };
      assert.deepEqual({ ...created, tags: [...created.tags].sort() }, expected);
      const fetched = await catalog.images.get(input.id);
      assert.ok(fetched);
      assert.deepEqual({ ...fetched, tags: [...fetched.tags].sort() }, expected);
      assert.equal(typeof fetched.size, 'number');
      assert.equal(typeof fetched.virtualSize, 'number');
    });

    it('returns null for an unknown id', async () => {
      assert.equal(await catalog.images.get('00000000-0000-4000-8000-000000000000'), null);
    });

    it('tells apart values that differ only by case or trailing spaces', async () => {
      const image = await catalog.images.create(newImage({ name: 'Case', tags: ['a', 'A', 'a '], properties: { k: 'v', K: 'V' } }));
      assert.deepEqual([...image.tags].sort(), ['A', 'a', 'a ']);
      assert.deepEqual(image.properties, { K: 'V', k: 'v' });
      const byName = (name: string) => listNames({ filters: [{ column: 'name', op: 'eq', value: name }] });
      assert.deepEqual(await byName('Case'), ['Case']);
      assert.deepEqual(await byName('case'), []);
      assert.deepEqual(await byName('Case '), []);
    });

    it('rejects a duplicate id with IMAGE_ID_IN_USE and leaves the existing image alone', async () => {
      const original = await catalog.images.create(newImage({ name: 'original', tags: ['t'] }));
      await rejectsWith(catalog.images.create(newImage({ id: original.id, name: 'intruder', tags: ['x'], properties: { p: '1' } })), 'IMAGE_ID_IN_USE');
      assert.deepEqual(await catalog.images.get(original.id), original);
    });

    it('keeps the id of a deleted image reserved', async () => {
      const image = await catalog.images.create(newImage());
      assert.ok(await catalog.images.markDeleted(image.id));
      await rejectsWith(catalog.images.create(newImage({ id: image.id })), 'IMAGE_ID_IN_USE');
    });

    it('never reads the uncommitted writes of a transaction in flight', async () => {
      const image = await catalog.images.create(newImage({ name: 'committed', tags: ['kept'], properties: { p: 'kept' } }));
      let rollBack!: () => void;
      const rolledBack = new Promise<void>((resolve) => (rollBack = resolve));
      let wrote!: () => void;
      const written = new Promise<void>((resolve) => (wrote = resolve));
      const transaction = catalog.knex
        .transaction(async (trx) => {
          await trx('images').where('id', image.id).update({ name: 'uncommitted', revision: 99 });
          await trx('image_tags').where('image_id', image.id).delete();
          await trx('image_properties').where('image_id', image.id).update({ value: 'uncommitted' });
          wrote();
          await rolledBack;
          throw new Error('roll back');
        })
        .catch(() => undefined);
      await written;
      // Started while the transaction is open; they may wait for it (SQLite) but not see inside it.
      const reads = Promise.all([catalog.images.get(image.id), catalog.images.list(listQuery({ filters: [{ column: 'id', op: 'eq', value: image.id }] }))]);
      await sleep(20);
      rollBack();
      await transaction;
      const [fetched, listed] = await reads;
      assert.deepEqual(fetched, image);
      assert.deepEqual(listed, [image]);
    });

    it('lets exactly one of several concurrent creates of one id succeed', async () => {
      const id = crypto.randomUUID();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, index) => catalog.images.create(newImage({ id, name: `racer-${index}` }))),
      );
      assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 1);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') assert.ok(isGlintError(outcome.reason, 'IMAGE_ID_IN_USE'));
      }
    });
  });

  describe('images: update', () => {
    it('applies attribute changes, bumps the revision and moves updated_at', async () => {
      const image = await catalog.images.create(newImage({ createdAt: new Date(T0) }));
      const updated = await catalog.images.update(image.id, {
        attributes: {
          name: 'renamed',
          visibility: 'private',
          protected: true,
          osHidden: true,
          checksum: 'c'.repeat(32),
          osHashAlgo: 'sha512',
          osHashValue: 'd'.repeat(128),
          owner: 'project-z',
          size: 2 ** 40,
          virtualSize: 2 ** 41,
          minRam: 512,
          minDisk: 8,
          containerFormat: 'ovf',
          diskFormat: 'raw',
        },
      });
      assert.ok(updated);
      assert.equal(updated.revision, image.revision + 1);
      assert.ok(updated.updatedAt.getTime() > image.updatedAt.getTime());
      assert.deepEqual(updated.createdAt, image.createdAt);
      assert.deepEqual(
        {
          name: updated.name,
          visibility: updated.visibility,
          protected: updated.protected,
          osHidden: updated.osHidden,
          checksum: updated.checksum,
          osHashAlgo: updated.osHashAlgo,
          osHashValue: updated.osHashValue,
          owner: updated.owner,
          size: updated.size,
          virtualSize: updated.virtualSize,
          minRam: updated.minRam,
          minDisk: updated.minDisk,
          containerFormat: updated.containerFormat,
          diskFormat: updated.diskFormat,
        },
        {
          name: 'renamed',
          visibility: 'private',
          protected: true,
          osHidden: true,
          checksum: 'c'.repeat(32),
          osHashAlgo: 'sha512',
          osHashValue: 'd'.repeat(128),
          owner: 'project-z',
          size: 2 ** 40,
          virtualSize: 2 ** 41,
          minRam: 512,
          minDisk: 8,
          containerFormat: 'ovf',
          diskFormat: 'raw',
        },
      );
      assert.deepEqual(await catalog.images.get(image.id), updated);

      const cleared = await catalog.images.update(image.id, { attributes: { name: null, size: null, virtualSize: null, containerFormat: null } });
      assert.ok(cleared);
      assert.equal(cleared.name, null);
      assert.equal(cleared.size, null);
      assert.equal(cleared.virtualSize, null);
      assert.equal(cleared.containerFormat, null);
      assert.equal(cleared.revision, image.revision + 2);
    });

    it('bumps the revision even when nothing but the timestamp changes', async () => {
      const image = await catalog.images.create(newImage());
      const touched = await catalog.images.update(image.id, {});
      assert.equal(touched?.revision, image.revision + 1);
    });

    it('changes nothing and returns null when the status condition does not hold', async () => {
      const image = await catalog.images.create(newImage({ properties: { keep: '1' }, tags: ['keep'] }));
      const result = await catalog.images.update(
        image.id,
        {
          attributes: { status: 'active', name: 'nope' },
          setProperties: { added: 'x' },
          removeProperties: ['keep'],
          tags: ['other'],
          addLocations: [{ storeId: 'fast', key: 'k' }],
        },
        { status: 'saving' },
      );
      assert.equal(result, null);
      assert.deepEqual(await catalog.images.get(image.id), image);
    });

    it('applies the change when the status is one of the expected statuses', async () => {
      const image = await catalog.images.create(newImage());
      const saving = await catalog.images.update(image.id, { attributes: { status: 'saving' } }, { status: ['uploading', 'queued'] });
      assert.equal(saving?.status, 'saving');
      assert.equal(saving?.revision, 2);
      assert.equal(await catalog.images.update(image.id, { attributes: { status: 'active' } }, { status: [] }), null);
    });

    it('lets exactly one of ten concurrent conditional updates win', async () => {
      const image = await catalog.images.create(newImage());
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          catalog.images.update(image.id, { attributes: { status: 'saving', name: `winner-${index}` } }, { status: 'queued' }),
        ),
      );
      const winners = results.filter((result) => result !== null);
      assert.equal(winners.length, 1);
      const stored = await catalog.images.get(image.id);
      assert.equal(stored?.status, 'saving');
      assert.equal(stored?.name, winners[0]?.name);
      assert.equal(stored?.revision, image.revision + 1);
    });

    it('applies an update only at the expected revision', async () => {
      const image = await catalog.images.create(newImage());
      assert.equal(await catalog.images.update(image.id, { attributes: { name: 'stale' } }, { revision: image.revision + 1 }), null);
      const fresh = await catalog.images.update(image.id, { attributes: { name: 'fresh' } }, { revision: image.revision });
      assert.equal(fresh?.name, 'fresh');
      assert.equal(await catalog.images.update(image.id, { attributes: { name: 'stale again' } }, { revision: image.revision }), null);
      assert.equal(
        await catalog.images.update(image.id, { attributes: { name: 'both' } }, { revision: fresh?.revision, status: 'active' }),
        null,
      );
      assert.equal((await catalog.images.get(image.id))?.name, 'fresh');
    });

    it('lets exactly one of several concurrent updates at one revision win', async () => {
      const image = await catalog.images.create(newImage());
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, index) =>
          catalog.images.update(image.id, { setProperties: { writer: String(index) } }, { revision: image.revision }),
        ),
      );
      assert.equal(results.filter((result) => result !== null).length, 1);
    });

    it('sets, overwrites and removes properties', async () => {
      const image = await catalog.images.create(newImage({ properties: { a: '1', b: '2' } }));
      const updated = await catalog.images.update(image.id, { setProperties: { b: 'two', c: '3' }, removeProperties: ['a', 'absent'] });
      assert.deepEqual(updated?.properties, { b: 'two', c: '3' });
      assert.deepEqual((await catalog.images.get(image.id))?.properties, { b: 'two', c: '3' });
    });

    it('replaces the tag set, collapsing duplicates', async () => {
      const image = await catalog.images.create(newImage({ tags: ['old', 'keep'] }));
      const updated = await catalog.images.update(image.id, { tags: ['keep', 'new', 'new'] });
      assert.deepEqual([...(updated?.tags ?? [])].sort(), ['keep', 'new']);
      const cleared = await catalog.images.update(image.id, { tags: [] });
      assert.deepEqual(cleared?.tags, []);
    });

    it('adds locations in order and removes the live ones of given stores', async () => {
      const image = await catalog.images.create(newImage());
      const withLocations = await catalog.images.update(image.id, {
        addLocations: [
          { storeId: 'fast', key: `${image.id}`, metadata: { store: 'fast', nested: { n: 1 } } },
          { storeId: 'cheap', key: `images/${image.id}` },
          { storeId: 'fast', key: `${image.id}.copy` },
        ],
      });
      assert.ok(withLocations);
      assert.deepEqual(
        withLocations.locations.map(({ storeId, key, metadata }) => ({ storeId, key, metadata })),
        [
          { storeId: 'fast', key: image.id, metadata: { store: 'fast', nested: { n: 1 } } },
          { storeId: 'cheap', key: `images/${image.id}`, metadata: {} },
          { storeId: 'fast', key: `${image.id}.copy`, metadata: {} },
        ],
      );
      for (const location of withLocations.locations) assert.ok(location.createdAt instanceof Date);

      const replaced = await catalog.images.update(image.id, {
        removeLocationsInStores: ['fast', 'unknown'],
        addLocations: [{ storeId: 'fast', key: 'replacement' }],
      });
      assert.deepEqual(
        replaced?.locations.map(({ storeId, key }) => ({ storeId, key })),
        [
          { storeId: 'cheap', key: `images/${image.id}` },
          { storeId: 'fast', key: 'replacement' },
        ],
      );
      assert.deepEqual((await catalog.images.get(image.id))?.locations, replaced?.locations);
    });

    it('returns null for unknown and deleted images', async () => {
      assert.equal(await catalog.images.update('00000000-0000-4000-8000-000000000000', { attributes: { name: 'x' } }), null);
      const image = await catalog.images.create(newImage());
      await catalog.images.markDeleted(image.id);
      assert.equal(await catalog.images.update(image.id, { attributes: { name: 'x' } }), null);
      assert.equal((await catalog.images.get(image.id, { includeDeleted: true }))?.name, null);
    });
  });

  describe('images: markDeleted', () => {
    it('returns the image as it was, hides it from get and list, and keeps the row for includeDeleted', async () => {
      const image = await catalog.images.create(newImage({ name: 'doomed', status: 'active', tags: ['t'], properties: { p: 'v' } }));
      const located = await catalog.images.update(image.id, { addLocations: [{ storeId: 'fast', key: 'k1' }, { storeId: 'cheap', key: 'k2' }] });
      const deleted = await catalog.images.markDeleted(image.id);
      assert.deepEqual(deleted?.image, located);
      assert.deepEqual(deleted?.image.locations.map((location) => location.key), ['k1', 'k2']);
      assert.deepEqual(deleted?.objects, [
        { storeId: 'fast', key: 'k1' },
        { storeId: 'cheap', key: 'k2' },
      ]);

      assert.equal(await catalog.images.get(image.id), null);
      assert.deepEqual(await listNames({}), []);
      const row = await catalog.images.get(image.id, { includeDeleted: true });
      assert.ok(row);
      assert.equal(row.status, 'deleted');
      assert.ok(row.deletedAt instanceof Date);
      assert.equal(row.revision, (located?.revision ?? 0) + 1);
      assert.deepEqual(row.tags, []);
      assert.deepEqual(row.properties, {});
      assert.deepEqual(row.locations, []);
    });

    it('purges names, namespaced attributes and big data, returning the big-data objects after the locations', async () => {
      const image = await catalog.images.create(newImage({ status: 'active' }));
      await catalog.images.update(image.id, { addLocations: [{ storeId: 'fast', key: 'data' }] });
      const now = Date.now();
      await catalog.knex('image_names').insert({ namespace: 'isulad', name: 'busybox:latest', image_id: image.id, created_at: now });
      await catalog.knex('image_attributes').insert({ image_id: image.id, namespace: 'edgegallery', name: 'fileName', value: 'a.qcow2' });
      await catalog.knex('image_big_data').insert([
        { image_id: image.id, name: 'manifest', store_id: 'fast', object_key: 'bigdata/m', size: 3, digest: null, position: 1, created_at: now, updated_at: now },
        { image_id: image.id, name: 'config', store_id: 'cheap', object_key: 'bigdata/c', size: 3, digest: null, position: 0, created_at: now, updated_at: now },
      ]);
      const deleted = await catalog.images.markDeleted(image.id);
      assert.deepEqual(deleted?.objects, [
        { storeId: 'fast', key: 'data' },
        { storeId: 'cheap', key: 'bigdata/c' },
        { storeId: 'fast', key: 'bigdata/m' },
      ]);
      for (const table of ['image_names', 'image_attributes', 'image_big_data']) {
        assert.deepEqual(await catalog.knex(table).where('image_id', image.id).select('image_id'), [], table);
      }
      // the released name can be taken by another image
      const other = await catalog.images.create(newImage());
      await catalog.knex('image_names').insert({ namespace: 'isulad', name: 'busybox:latest', image_id: other.id, created_at: now });
    });

    it('drops the members of the image', async () => {
      const image = await catalog.images.create(newImage());
      await catalog.members.add(image.id, 'project-b');
      await catalog.images.markDeleted(image.id);
      assert.equal(await catalog.members.count(image.id), 0);
      assert.deepEqual(await catalog.members.list(image.id), []);
    });

    it('returns null and changes nothing when the condition fails or the image is gone', async () => {
      const image = await catalog.images.create(newImage({ status: 'active', tags: ['t'] }));
      assert.equal(await catalog.images.markDeleted(image.id, { status: 'queued' }), null);
      assert.equal(await catalog.images.markDeleted(image.id, { revision: image.revision + 1 }), null);
      assert.deepEqual(await catalog.images.get(image.id), image);
      assert.ok(await catalog.images.markDeleted(image.id, { status: ['queued', 'active'], revision: image.revision }));
      assert.equal(await catalog.images.markDeleted(image.id), null);
      assert.equal(await catalog.images.markDeleted('00000000-0000-4000-8000-000000000000'), null);
    });

    it('deletes once when several deletes race', async () => {
      const image = await catalog.images.create(newImage());
      const results = await Promise.all(Array.from({ length: 5 }, () => catalog.images.markDeleted(image.id)));
      assert.equal(results.filter((result) => result !== null).length, 1);
    });
  });

  describe('images: storageUsage', () => {
    it('sums size × live locations over the owner’s live images', async () => {
      const addLocations = async (id: string, stores: string[]) =>
        catalog.images.update(id, { addLocations: stores.map((storeId) => ({ storeId, key: `${storeId}/${id}` })) });
      assert.equal(await catalog.images.storageUsage('project-a'), 0);

      const twoCopies = await catalog.images.create(newImage({ owner: 'project-a', status: 'active', size: 2 ** 40 }));
      await addLocations(twoCopies.id, ['fast', 'cheap']);
      const oneCopy = await catalog.images.create(newImage({ owner: 'project-a', status: 'active', size: 100 }));
      await addLocations(oneCopy.id, ['fast']);
      await catalog.images.create(newImage({ owner: 'project-a', size: 7 })); // no location yet
      const sizeless = await catalog.images.create(newImage({ owner: 'project-a' }));
      await addLocations(sizeless.id, ['fast']);
      const killed = await catalog.images.create(newImage({ owner: 'project-a', status: 'killed', size: 1000 }));
      await addLocations(killed.id, ['fast']);
      const deleted = await catalog.images.create(newImage({ owner: 'project-a', status: 'active', size: 5000 }));
      await addLocations(deleted.id, ['fast']);
      await catalog.images.markDeleted(deleted.id);
      const foreign = await catalog.images.create(newImage({ owner: 'project-b', status: 'active', size: 9 }));
      await addLocations(foreign.id, ['fast']);

      assert.equal(await catalog.images.storageUsage('project-a'), 2 * 2 ** 40 + 100);
      assert.equal(await catalog.images.storageUsage('project-a', twoCopies.id), 100);
      assert.equal(await catalog.images.storageUsage('project-b'), 9);
      assert.equal(await catalog.images.storageUsage('project-c'), 0);
    });
  });

  describe('images: list scopes', () => {
    /** One image per situation, named after it; the caller's project is "me". */
    async function createScopeFixture(): Promise<Record<string, Image>> {
      const specs: Array<[string, Visibility, string | null, Array<[string, MemberStatus]>]> = [
        ['public-other', 'public', 'other', []],
        ['public-mine', 'public', 'me', []],
        ['private-mine', 'private', 'me', []],
        ['private-other', 'private', 'other', []],
        ['private-ownerless', 'private', null, []],
        ['shared-mine', 'shared', 'me', [['other', 'accepted']]],
        ['shared-accepted', 'shared', 'other', [['me', 'accepted']]],
        ['shared-pending', 'shared', 'other', [['me', 'pending'], ['third', 'accepted']]],
        ['shared-rejected', 'shared', 'other', [['me', 'rejected']]],
        ['shared-not-member', 'shared', 'other', [['third', 'accepted']]],
        ['private-with-stale-member', 'private', 'other', [['me', 'accepted']]],
        ['community-mine', 'community', 'me', []],
        ['community-other', 'community', 'other', []],
        ['community-ownerless', 'community', null, []],
      ];
      const images: Record<string, Image> = {};
      for (const [name, visibility, owner, members] of specs) {
        images[name] = await catalog.images.create(newImage({ name, visibility, owner, status: 'active' }));
        for (const [member, status] of members) {
          await catalog.members.add(images[name].id, member);
          if (status !== 'pending') await catalog.members.setStatus(images[name].id, member, status);
        }
      }
      const killed = await catalog.images.create(newImage({ name: 'public-killed', visibility: 'public', owner: 'me' }));
      await catalog.images.update(killed.id, { attributes: { status: 'killed' } });
      const deleted = await catalog.images.create(newImage({ name: 'public-deleted', visibility: 'public', owner: 'me' }));
      await catalog.images.markDeleted(deleted.id);
      return images;
    }

    const projectScope = (memberStatus: MemberStatus | 'all', includeAllCommunity = false, projectId: string | null = 'me'): ListScope => ({
      kind: 'project',
      projectId,
      memberStatus,
      includeAllCommunity,
    });
    const byScope = (scope: ListScope) => listNames({ scope });
    const MINE = ['community-mine', 'private-mine', 'public-mine', 'shared-mine'];

    it('project: public images, own images of any visibility, shares accepted by the project', async () => {
      await createScopeFixture();
      assert.deepEqual(await byScope(projectScope('accepted')), [...MINE, 'public-other', 'shared-accepted'].sort());
    });

    it('project: the member status selects which shares count', async () => {
      await createScopeFixture();
      assert.deepEqual(await byScope(projectScope('pending')), [...MINE, 'public-other', 'shared-pending'].sort());
      assert.deepEqual(await byScope(projectScope('rejected')), [...MINE, 'public-other', 'shared-rejected'].sort());
      assert.deepEqual(
        await byScope(projectScope('all')),
        [...MINE, 'public-other', 'shared-accepted', 'shared-pending', 'shared-rejected'].sort(),
      );
    });

    it('project: a membership grants nothing once the image is no longer shared', async () => {
      const images = await createScopeFixture();
      await catalog.images.update(images['shared-accepted'].id, { attributes: { visibility: 'private' } });
      assert.deepEqual(await byScope(projectScope('accepted')), [...MINE, 'public-other'].sort());
    });

    it('project: includeAllCommunity adds every community image', async () => {
      await createScopeFixture();
      assert.deepEqual(
        await byScope(projectScope('accepted', true)),
        [...MINE, 'community-other', 'community-ownerless', 'public-other', 'shared-accepted'].sort(),
      );
    });

    it('project: without a project only public (and, when asked, community) images', async () => {
      await createScopeFixture();
      assert.deepEqual(await byScope(projectScope('all', false, null)), ['public-mine', 'public-other']);
      assert.deepEqual(await byScope(projectScope('all', true, null)), [
        'community-mine',
        'community-other',
        'community-ownerless',
        'public-mine',
        'public-other',
      ]);
    });

    it('everything: all images except community images of other owners', async () => {
      const images = await createScopeFixture();
      const all = Object.keys(images).sort();
      assert.deepEqual(
        await byScope({ kind: 'everything', projectId: 'me', includeAllCommunity: false }),
        all.filter((name) => name !== 'community-other' && name !== 'community-ownerless'),
      );
      assert.deepEqual(
        await byScope({ kind: 'everything', projectId: null, includeAllCommunity: false }),
        all.filter((name) => !name.startsWith('community-')),
      );
      assert.deepEqual(await byScope({ kind: 'everything', projectId: 'me', includeAllCommunity: true }), all);
      assert.deepEqual(await byScope({ kind: 'everything', projectId: null, includeAllCommunity: true }), all);
    });

    it('never lists killed or deleted images, whatever the filters', async () => {
      await createScopeFixture();
      const names = await listNames({
        scope: { kind: 'everything', projectId: 'me', includeAllCommunity: true },
        filters: [{ column: 'status', op: 'in', value: ['killed', 'deleted', 'active'] }],
      });
      assert.ok(!names.includes('public-killed'));
      assert.ok(!names.includes('public-deleted'));
      assert.deepEqual(await listNames({ filters: [{ column: 'status', op: 'eq', value: 'killed' }] }), []);
    });
  });

  describe('images: list filters', () => {
    async function createFilterFixture(): Promise<void> {
      const images: Array<Partial<NewImage> & { name: string }> = [
        { name: 'alpha', status: 'active', visibility: 'public', owner: 'p1', size: 10, virtualSize: 100, minRam: 0, minDisk: 1, containerFormat: 'bare', diskFormat: 'raw', checksum: 'a'.repeat(32), osHashAlgo: 'sha512', osHashValue: 'a'.repeat(128), protected: true, properties: { os_distro: 'ubuntu', os_version: '24.04' }, tags: ['x', 'y'] },
        { name: 'beta', status: 'queued', visibility: 'private', owner: 'p2', size: 20, virtualSize: null, minRam: 512, minDisk: 2, containerFormat: 'ovf', diskFormat: 'qcow2', checksum: 'b'.repeat(32), osHashAlgo: 'sha256', osHashValue: 'b'.repeat(128), osHidden: true, properties: { os_distro: 'ubuntu', os_version: '22.04' }, tags: ['x'] },
        { name: 'gamma', status: 'active', visibility: 'shared', owner: 'p1', size: 30, virtualSize: 300, minRam: 1024, minDisk: 3, containerFormat: 'bare', diskFormat: 'qcow2', properties: { os_distro: 'debian' }, tags: ['y', 'z'] },
        { name: 'delta', status: 'saving', visibility: 'community', owner: null, size: null, minRam: 2048, minDisk: 4, containerFormat: null, diskFormat: null, tags: [] },
      ];
      for (const [index, image] of images.entries()) {
        await catalog.images.create(newImage({ ...image, createdAt: new Date(T0 + index * 60_000) }));
      }
    }
    const withFilters = (...filters: ColumnFilter[]) => listNames({ filters });

    it('eq on every kind of column', async () => {
      await createFilterFixture();
      const cases: Array<[ColumnFilter, string[]]> = [
        [{ column: 'name', op: 'eq', value: 'beta' }, ['beta']],
        [{ column: 'status', op: 'eq', value: 'active' }, ['alpha', 'gamma']],
        [{ column: 'visibility', op: 'eq', value: 'community' }, ['delta']],
        [{ column: 'containerFormat', op: 'eq', value: 'bare' }, ['alpha', 'gamma']],
        [{ column: 'diskFormat', op: 'eq', value: 'qcow2' }, ['beta', 'gamma']],
        [{ column: 'owner', op: 'eq', value: 'p1' }, ['alpha', 'gamma']],
        [{ column: 'owner', op: 'eq', value: null }, ['delta']],
        [{ column: 'checksum', op: 'eq', value: 'b'.repeat(32) }, ['beta']],
        [{ column: 'osHashValue', op: 'eq', value: 'a'.repeat(128) }, ['alpha']],
        [{ column: 'osHashAlgo', op: 'eq', value: 'sha256' }, ['beta']],
        [{ column: 'size', op: 'eq', value: 20 }, ['beta']],
        [{ column: 'virtualSize', op: 'eq', value: 300 }, ['gamma']],
        [{ column: 'virtualSize', op: 'eq', value: null }, ['beta', 'delta']],
        [{ column: 'minRam', op: 'eq', value: 512 }, ['beta']],
        [{ column: 'minDisk', op: 'eq', value: '3' }, ['gamma']],
        [{ column: 'protected', op: 'eq', value: true }, ['alpha']],
        [{ column: 'protected', op: 'eq', value: false }, ['beta', 'delta', 'gamma']],
        [{ column: 'osHidden', op: 'eq', value: true }, ['beta']],
        [{ column: 'createdAt', op: 'eq', value: new Date(T0 + 60_000) }, ['beta']],
        [{ column: 'updatedAt', op: 'eq', value: new Date(T0 + 120_000) }, ['gamma']],
      ];
      for (const [filter, expected] of cases) {
        assert.deepEqual(await withFilters(filter), expected, JSON.stringify(filter));
      }
    });

    it('id filters with eq and in', async () => {
      await createFilterFixture();
      const all = await catalog.images.list(listQuery());
      const [first, second] = all;
      assert.ok(first && second);
      assert.deepEqual(await withFilters({ column: 'id', op: 'eq', value: first.id }), [first.name]);
      assert.deepEqual(await withFilters({ column: 'id', op: 'in', value: [first.id, second.id, 'unknown'] }), [first.name, second.name].sort());
    });

    it('neq excludes the value and keeps rows where the column is null', async () => {
      await createFilterFixture();
      assert.deepEqual(await withFilters({ column: 'containerFormat', op: 'neq', value: 'bare' }), ['beta', 'delta']);
      assert.deepEqual(await withFilters({ column: 'containerFormat', op: 'neq', value: null }), ['alpha', 'beta', 'gamma']);
      assert.deepEqual(await withFilters({ column: 'createdAt', op: 'neq', value: new Date(T0) }), ['beta', 'delta', 'gamma']);
    });

    it('in with several values, and with none', async () => {
      await createFilterFixture();
      assert.deepEqual(await withFilters({ column: 'status', op: 'in', value: ['queued', 'saving'] }), ['beta', 'delta']);
      assert.deepEqual(await withFilters({ column: 'size', op: 'in', value: [10, 30, 99] }), ['alpha', 'gamma']);
      assert.deepEqual(await withFilters({ column: 'name', op: 'in', value: [] }), []);
    });

    it('gt, gte, lt and lte on numbers (nulls never match)', async () => {
      await createFilterFixture();
      assert.deepEqual(await withFilters({ column: 'size', op: 'gt', value: 10 }), ['beta', 'gamma']);
      assert.deepEqual(await withFilters({ column: 'size', op: 'gte', value: 10 }), ['alpha', 'beta', 'gamma']);
      assert.deepEqual(await withFilters({ column: 'size', op: 'lt', value: 30 }), ['alpha', 'beta']);
      assert.deepEqual(await withFilters({ column: 'size', op: 'lte', value: 30 }), ['alpha', 'beta', 'gamma']);
      assert.deepEqual(
        await withFilters({ column: 'size', op: 'gte', value: 15 }, { column: 'size', op: 'lte', value: 25 }),
        ['beta'],
      );
      assert.deepEqual(await withFilters({ column: 'minRam', op: 'gt', value: 600 }), ['delta', 'gamma']);
    });

    it('gt, gte, lt and lte on timestamps compare Dates to the millisecond', async () => {
      await createFilterFixture();
      const at = (offset: number) => new Date(T0 + offset);
      assert.deepEqual(await withFilters({ column: 'createdAt', op: 'gt', value: at(60_000) }), ['delta', 'gamma']);
      assert.deepEqual(await withFilters({ column: 'createdAt', op: 'gte', value: at(60_000) }), ['beta', 'delta', 'gamma']);
      assert.deepEqual(await withFilters({ column: 'createdAt', op: 'gt', value: at(59_999) }), ['beta', 'delta', 'gamma']);
      assert.deepEqual(await withFilters({ column: 'createdAt', op: 'lt', value: at(60_000) }), ['alpha']);
      assert.deepEqual(await withFilters({ column: 'createdAt', op: 'lte', value: at(60_000) }), ['alpha', 'beta']);
      assert.deepEqual(await withFilters({ column: 'updatedAt', op: 'lt', value: at(60_001) }), ['alpha', 'beta']);
      assert.deepEqual(await withFilters({ column: 'updatedAt', op: 'gte', value: at(180_000) }), ['delta']);
    });

    it('custom property equality filters, all of which must match', async () => {
      await createFilterFixture();
      assert.deepEqual(await listNames({ properties: { os_distro: 'ubuntu' } }), ['alpha', 'beta']);
      assert.deepEqual(await listNames({ properties: { os_distro: 'ubuntu', os_version: '22.04' } }), ['beta']);
      assert.deepEqual(await listNames({ properties: { os_distro: 'Ubuntu' } }), []);
      assert.deepEqual(await listNames({ properties: { missing: '' } }), []);
    });

    it('required tags: the image must carry every one', async () => {
      await createFilterFixture();
      assert.deepEqual(await listNames({ tags: ['x'] }), ['alpha', 'beta']);
      assert.deepEqual(await listNames({ tags: ['x', 'y'] }), ['alpha']);
      assert.deepEqual(await listNames({ tags: ['y', 'y'] }), ['alpha', 'gamma']);
      assert.deepEqual(await listNames({ tags: ['x', 'z'] }), []);
    });

    it('filters, properties, tags and scope combine with AND', async () => {
      await createFilterFixture();
      assert.deepEqual(
        await listNames({
          scope: { kind: 'project', projectId: 'p1', memberStatus: 'accepted', includeAllCommunity: false },
          filters: [{ column: 'status', op: 'eq', value: 'active' }],
          properties: { os_distro: 'ubuntu' },
          tags: ['y'],
        }),
        ['alpha'],
      );
    });

    it('loads properties, tags and locations of every listed image', async () => {
      await createFilterFixture();
      const alpha = (await catalog.images.list(listQuery({ filters: [{ column: 'name', op: 'eq', value: 'alpha' }] })))[0];
      assert.ok(alpha);
      await catalog.images.update(alpha.id, { addLocations: [{ storeId: 'fast', key: 'alpha-data' }] });
      const listed = await catalog.images.list(listQuery());
      for (const image of listed) assert.deepEqual(image, await catalog.images.get(image.id));
    });

    it('reads images written before images.children existed from the child tables, and fills it in on the next change', async () => {
      const created = await catalog.images.create(newImage({ name: 'legacy', properties: JSON.parse('{"b": "2", "a": "1", "__proto__": "p"}') as Record<string, string>, tags: ['t2', 't1'] }));
      const withLocation = await catalog.images.update(created.id, { addLocations: [{ storeId: 'fast', key: 'k1', metadata: { m: 1 } }] });
      assert.ok(withLocation);
      // As a row from before the migration looks: the tables hold the children, the column nothing.
      await catalog.knex('images').where({ id: created.id }).update({ children: null });
      assert.deepEqual(await catalog.images.get(created.id), withLocation);
      assert.deepEqual((await catalog.images.list(listQuery({ filters: [{ column: 'name', op: 'eq', value: 'legacy' }] })))[0], withLocation);
      assert.deepEqual(Object.keys(withLocation.properties).sort(), ['__proto__', 'a', 'b']);

      const retagged = await catalog.images.update(created.id, { tags: ['t3'] });
      const [row] = (await catalog.knex('images').select('children').where({ id: created.id })) as Array<{ children: string | null }>;
      assert.notEqual(row.children, null);
      assert.deepEqual(await catalog.images.get(created.id), retagged);
      assert.deepEqual(retagged?.tags, ['t3']);
      assert.deepEqual(retagged?.locations.map((l) => [l.storeId, l.key, l.metadata]), [['fast', 'k1', { m: 1 }]]);
    });
  });

  describe('images: list order and pages', () => {
    /** A codepoint order for strings (what both databases use), NULL lowest. */
    function compareValues(a: string | number | null, b: string | number | null): number {
      if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
      if (typeof a === 'number' && typeof b === 'number') return a - b;
      return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
    }

    function sortValue(image: Image, key: SortKey): string | number | null {
      switch (key) {
        case 'name':
          return image.name;
        case 'status':
          return image.status;
        case 'containerFormat':
          return image.containerFormat;
        case 'diskFormat':
          return image.diskFormat;
        case 'size':
          return image.size;
        case 'id':
          return image.id;
        case 'createdAt':
          return image.createdAt.getTime();
        case 'updatedAt':
          return image.updatedAt.getTime();
      }
    }

    function expectedOrder(images: Image[], sort: ImageListQuery['sort']): string[] {
      return [...images]
        .sort((a, b) => {
          for (const { key, dir } of sort) {
            const order = compareValues(sortValue(a, key), sortValue(b, key));
            if (order !== 0) return dir === 'asc' ? order : -order;
          }
          return 0;
        })
        .map((image) => image.id);
    }

    /** 30 images with repeated and NULL values in every nullable sort column. */
    async function createOrderFixture(): Promise<Image[]> {
      const names = ['b', null, 'a', 'B', 'a', null, 'c', 'ä', 'a b', 'b'];
      const statuses: ImageStatus[] = ['active', 'queued', 'saving', 'deactivated'];
      const containers = ['bare', null, 'ovf'];
      const disks = [null, 'raw', 'qcow2', 'iso'];
      const sizes = [null, 0, 1024, 2 ** 40, 1024];
      for (let index = 0; index < 30; index++) {
        await catalog.images.create(
          newImage({
            name: names[index % names.length],
            status: statuses[index % statuses.length],
            containerFormat: containers[index % containers.length],
            diskFormat: disks[index % disks.length],
            size: sizes[index % sizes.length],
            // Pairs of images share a creation time.
            createdAt: new Date(T0 + Math.floor(index / 2) * 1000),
          }),
        );
      }
      const all = await catalog.images.list(listQuery());
      // Move updated_at of every third image past all creation times.
      for (const image of all.filter((_, index) => index % 3 === 0)) {
        await catalog.images.update(image.id, {});
      }
      return catalog.images.list(listQuery());
    }

    const SORT_KEYS: SortKey[] = ['name', 'status', 'containerFormat', 'diskFormat', 'size', 'id', 'createdAt', 'updatedAt'];

    it('sorts on each key in both directions (NULL lowest)', async () => {
      const images = await createOrderFixture();
      assert.equal(images.length, 30);
      for (const key of SORT_KEYS) {
        for (const dir of ['asc', 'desc'] as SortDirection[]) {
          const sort: ImageListQuery['sort'] = key === 'id' ? [{ key, dir }] : [{ key, dir }, { key: 'id', dir: 'asc' }];
          const listed = await catalog.images.list(listQuery({ sort }));
          assert.deepEqual(
            listed.map((image) => image.id),
            expectedOrder(images, sort),
            `sort ${key} ${dir}`,
          );
        }
      }
    });

    it('respects limit, and limit 0 gives nothing', async () => {
      await createOrderFixture();
      assert.equal((await catalog.images.list(listQuery({ limit: 7 }))).length, 7);
      assert.deepEqual(await catalog.images.list(listQuery({ limit: 0 })), []);
    });

    const MULTI_KEY_SORTS: Array<ImageListQuery['sort']> = [
      [
        { key: 'name', dir: 'asc' },
        { key: 'size', dir: 'desc' },
        { key: 'createdAt', dir: 'desc' },
        { key: 'id', dir: 'desc' },
      ],
      [
        { key: 'name', dir: 'desc' },
        { key: 'createdAt', dir: 'asc' },
        { key: 'id', dir: 'asc' },
      ],
      [
        { key: 'size', dir: 'asc' },
        { key: 'diskFormat', dir: 'desc' },
        { key: 'containerFormat', dir: 'asc' },
        { key: 'id', dir: 'desc' },
      ],
      [
        { key: 'diskFormat', dir: 'desc' },
        { key: 'name', dir: 'asc' },
        { key: 'updatedAt', dir: 'desc' },
        { key: 'id', dir: 'asc' },
      ],
      [
        { key: 'status', dir: 'asc' },
        { key: 'createdAt', dir: 'desc' },
        { key: 'id', dir: 'desc' },
      ],
    ];

    it('pages through multi-key sorts with NULLs and mixed directions, giving every row exactly once', async () => {
      const images = await createOrderFixture();
      for (const sort of MULTI_KEY_SORTS) {
        for (const pageSize of [1, 4, 7]) {
          const seen: string[] = [];
          let marker: Image | undefined;
          for (let page = 0; page < 100; page++) {
            const batch = await catalog.images.list(listQuery({ sort, marker, limit: pageSize }));
            seen.push(...batch.map((image) => image.id));
            if (batch.length < pageSize) break;
            marker = batch[batch.length - 1];
          }
          assert.deepEqual(seen, expectedOrder(images, sort), `${JSON.stringify(sort)} by ${pageSize}`);
        }
      }
    });

    it('pages with filters in place, starting after the marker', async () => {
      const images = await createOrderFixture();
      const sort: ImageListQuery['sort'] = [
        { key: 'name', dir: 'asc' },
        { key: 'id', dir: 'asc' },
      ];
      const filters: ColumnFilter[] = [{ column: 'status', op: 'in', value: ['active', 'queued'] }];
      const expected = expectedOrder(
        images.filter((image) => image.status === 'active' || image.status === 'queued'),
        sort,
      );
      const firstPage = await catalog.images.list(listQuery({ sort, filters, limit: 5 }));
      const secondPage = await catalog.images.list(listQuery({ sort, filters, limit: 100, marker: firstPage[4] }));
      assert.deepEqual([...firstPage, ...secondPage].map((image) => image.id), expected);
    });
  });

  describe('images: write leases and what the reconciler asks', () => {
    const lease = (holder: string, inMs: number) => ({ holder, expiresAt: new Date(Date.now() + inMs) });

    it('a reserving update takes the lease; only its holder renews, commits or releases it', async () => {
      const image = await catalog.images.create(newImage());
      const reserved = await catalog.images.update(image.id, { attributes: { status: 'saving' }, writeLease: lease('w1', 60_000) }, { status: 'queued' });
      assert.ok(reserved);
      assert.equal(await catalog.images.renewWriteLease(image.id, 'w2', new Date(Date.now() + 60_000)), false);
      assert.equal(await catalog.images.renewWriteLease(image.id, 'w1', new Date(Date.now() + 60_000)), true);
      const renewed = await catalog.images.get(image.id);
      assert.equal(renewed?.revision, reserved.revision, 'a renewal changes no revision');
      assert.equal(await catalog.images.update(image.id, { attributes: { status: 'active' }, writeLease: null }, { status: 'saving', writeLeaseHolder: 'w2' }), null);
      const committed = await catalog.images.update(image.id, { attributes: { status: 'active' }, writeLease: null }, { status: 'saving', writeLeaseHolder: 'w1' });
      assert.equal(committed?.status, 'active');
      assert.equal(await catalog.images.renewWriteLease(image.id, 'w1', new Date(Date.now() + 60_000)), false, 'the commit cleared the lease');
      assert.ok(await catalog.images.update(image.id, {}, { writeLeaseHolder: null }), 'no lease held now');
    });

    it('finds saving and uploading images whose lease expired, never a staged image or a live lease', async () => {
      const expiredSaving = await catalog.images.create(newImage({ name: 'expired saving' }));
      await catalog.images.update(expiredSaving.id, { attributes: { status: 'saving' }, writeLease: lease('a', -1000) });
      const expiredStage = await catalog.images.create(newImage({ name: 'expired stage' }));
      await catalog.images.update(expiredStage.id, { attributes: { status: 'uploading' }, writeLease: lease('b', -1000) });
      const live = await catalog.images.create(newImage({ name: 'live' }));
      await catalog.images.update(live.id, { attributes: { status: 'saving' }, writeLease: lease('c', 60_000) });
      const staged = await catalog.images.create(newImage({ name: 'staged' }));
      await catalog.images.update(staged.id, { attributes: { status: 'uploading', size: 3 }, writeLease: null });
      const importing = await catalog.images.create(newImage({ name: 'importing', properties: { os_glance_import_task: 'task-1' } }));
      await catalog.images.update(importing.id, { attributes: { status: 'importing' } });
      const deleted = await catalog.images.create(newImage({ name: 'deleted' }));
      await catalog.images.update(deleted.id, { attributes: { status: 'saving' }, writeLease: lease('d', -1000) });
      await catalog.images.markDeleted(deleted.id);

      const stuck = await catalog.images.findStuckWrites(new Date(), 100);
      const byId = new Map(stuck.map((row) => [row.id, row]));
      assert.deepEqual([...byId.keys()].sort(), [expiredSaving.id, expiredStage.id, importing.id].sort());
      assert.equal(byId.get(expiredSaving.id)?.writeLeaseHolder, 'a');
      assert.equal(byId.get(expiredStage.id)?.status, 'uploading');
      assert.equal(byId.get(importing.id)?.importTask, 'task-1');

      // recovery is conditional on the lease still being expired and held by the same write
      const now = new Date();
      assert.equal(await catalog.images.update(live.id, { attributes: { status: 'queued' }, writeLease: null }, { status: 'saving', writeLeaseHolder: 'c', writeLeaseExpiredAt: now }), null);
      assert.equal(await catalog.images.renewWriteLease(expiredSaving.id, 'a', new Date(Date.now() + 60_000)), true);
      assert.equal(await catalog.images.update(expiredSaving.id, { attributes: { status: 'queued' }, writeLease: null }, { status: 'saving', writeLeaseHolder: 'a', writeLeaseExpiredAt: now }), null);
      const recovered = await catalog.images.update(expiredStage.id, { attributes: { status: 'queued' }, writeLease: null }, { status: 'uploading', writeLeaseHolder: 'b', writeLeaseExpiredAt: now });
      assert.equal(recovered?.status, 'queued');
    });

    it('the migration gives rows already in saving, or uploading without a size, a lease that expires later', async () => {
      await catalog.knex.migrate.down({ migrationSource, name: '20261126000000_image_write_leases' });
      const ids: Record<string, string> = {};
      for (const [name, status, size] of [['saving', 'saving', null], ['stage crashed', 'uploading', null], ['staged', 'uploading', 5], ['queued', 'queued', null]] as const) {
        const image = await catalog.images.create(newImage({ name }));
        await catalog.knex('images').where('id', image.id).update({ status, size });
        ids[name] = image.id;
      }
      await catalog.migrate();
      assert.deepEqual(await catalog.images.findStuckWrites(new Date(), 100), [], 'not expired at once');
      const later = await catalog.images.findStuckWrites(new Date(Date.now() + 11 * 60_000), 100);
      assert.deepEqual(later.map((row) => row.id).sort(), [ids.saving, ids['stage crashed']].sort());
    });

    it('tells which keys of a store locations, big data and upload chunks reference', async () => {
      const image = await catalog.images.create(newImage());
      await catalog.images.update(image.id, { addLocations: [{ storeId: 'fast', key: image.id }] });
      const now = Date.now();
      await catalog.knex('image_big_data').insert({ image_id: image.id, name: 'manifest', store_id: 'fast', object_key: 'big/manifest', size: 1, digest: null, position: 0, created_at: now, updated_at: now });
      await catalog.knex('chunked_uploads').insert({ id: 'u1', surface: 'file-mgmt', store_id: 'fast', status: 'receiving', created_at: now, updated_at: now });
      await catalog.knex('upload_chunks').insert({ upload_id: 'u1', chunk_index: 0, object_key: 'chunks/u1/0', size: 1, created_at: now });
      const keys = [image.id, 'big/manifest', 'chunks/u1/0', 'orphan', `staging/${image.id}`];
      assert.deepEqual([...(await catalog.images.referencedKeys('fast', keys))].sort(), [image.id, 'big/manifest', 'chunks/u1/0'].sort());
      assert.deepEqual([...(await catalog.images.referencedKeys('cold', keys))], [], 'the same keys in another store');
      assert.deepEqual([...(await catalog.images.referencedKeys('fast', []))], []);
    });
  });

  describe('members', () => {
    it('adds a pending member, reads it back and counts it', async () => {
      const image = await catalog.images.create(newImage({ visibility: 'shared' }));
      const before = Date.now();
      const member = await catalog.members.add(image.id, 'project-b');
      assert.equal(member.imageId, image.id);
      assert.equal(member.memberId, 'project-b');
      assert.equal(member.status, 'pending');
      assert.ok(member.createdAt.getTime() >= before);
      assert.deepEqual(member.updatedAt, member.createdAt);
      assert.deepEqual(await catalog.members.get(image.id, 'project-b'), member);
      await catalog.members.add(image.id, 'project-c');
      assert.deepEqual(
        (await catalog.members.list(image.id)).map((entry) => entry.memberId).sort(),
        ['project-b', 'project-c'],
      );
      assert.equal(await catalog.members.count(image.id), 2);
      assert.equal(await catalog.members.get(image.id, 'project-x'), null);
    });

    it('rejects a member that is already there with MEMBER_EXISTS', async () => {
      const image = await catalog.images.create(newImage());
      await catalog.members.add(image.id, 'project-b');
      await catalog.members.setStatus(image.id, 'project-b', 'accepted');
      await rejectsWith(catalog.members.add(image.id, 'project-b'), 'MEMBER_EXISTS');
      assert.equal((await catalog.members.get(image.id, 'project-b'))?.status, 'accepted');
      assert.equal(await catalog.members.count(image.id), 1);
    });

    it('rejects members of an unknown image with IMAGE_NOT_FOUND', async () => {
      await rejectsWith(catalog.members.add('00000000-0000-4000-8000-000000000000', 'project-b'), 'IMAGE_NOT_FOUND');
    });

    it('changes the status of a member, and only of a known one', async () => {
      const image = await catalog.images.create(newImage());
      const added = await catalog.members.add(image.id, 'project-b');
      await sleep(5);
      const accepted = await catalog.members.setStatus(image.id, 'project-b', 'accepted');
      assert.equal(accepted?.status, 'accepted');
      assert.ok((accepted?.updatedAt.getTime() ?? 0) > added.updatedAt.getTime());
      assert.deepEqual(accepted?.createdAt, added.createdAt);
      assert.equal((await catalog.members.setStatus(image.id, 'project-b', 'accepted'))?.status, 'accepted');
      assert.equal(await catalog.members.setStatus(image.id, 'project-x', 'rejected'), null);
    });

    it('removes a member, reporting whether it was there', async () => {
      const image = await catalog.images.create(newImage());
      await catalog.members.add(image.id, 'project-b');
      assert.equal(await catalog.members.remove(image.id, 'project-b'), true);
      assert.equal(await catalog.members.remove(image.id, 'project-b'), false);
      assert.equal(await catalog.members.count(image.id), 0);
      const again = await catalog.members.add(image.id, 'project-b');
      assert.equal(again.status, 'pending');
    });
  });

  describe('tasks', () => {
    function newTask(overrides: Partial<NewTask> = {}): NewTask {
      return {
        id: crypto.randomUUID(),
        type: 'api_image_import',
        owner: 'project-a',
        imageId: null,
        requestId: null,
        userId: null,
        input: {},
        ...overrides,
      };
    }

    const taskQuery = (overrides: Partial<TaskListQuery> = {}): TaskListQuery => ({
      sort: { key: 'created_at', dir: 'desc' },
      limit: 1000,
      ...overrides,
    });

    it('creates a pending task and reads it back', async () => {
      const before = Date.now();
      const input = { import_req: { method: { name: 'web-download', uri: 'https://example.com/x' } }, stores: ['a', 'b'], n: 1.5 };
      const task = await catalog.tasks.create(
        newTask({ imageId: crypto.randomUUID(), requestId: 'req-1', userId: 'user-1', input }),
      );
      assert.equal(task.status, 'pending');
      assert.deepEqual(task.input, input);
      assert.equal(task.result, null);
      assert.equal(task.message, '');
      assert.equal(task.expiresAt, null);
      assert.equal(task.claimedBy, null);
      assert.equal(task.leaseExpiresAt, null);
      assert.ok(task.createdAt.getTime() >= before);
      assert.deepEqual(task.updatedAt, task.createdAt);
      assert.deepEqual(await catalog.tasks.get(task.id), task);
      assert.equal(await catalog.tasks.get('unknown'), null);
      const ownerless = await catalog.tasks.create(newTask({ owner: null }));
      assert.equal((await catalog.tasks.get(ownerless.id))?.owner, null);
    });

    it('updates a task only from the expected status', async () => {
      const task = await catalog.tasks.create(newTask());
      assert.equal(await catalog.tasks.update(task.id, { status: 'success' }, 'processing'), null);
      assert.deepEqual(await catalog.tasks.get(task.id), task);
      await sleep(5);
      const expiresAt = new Date(T0 + 48 * 3600_000);
      const done = await catalog.tasks.update(
        task.id,
        { status: 'success', result: { image_id: 'x', stores: ['s'] }, message: 'Import done', expiresAt, input: { replaced: true } },
        ['pending', 'processing'],
      );
      assert.ok(done);
      assert.equal(done.status, 'success');
      assert.deepEqual(done.result, { image_id: 'x', stores: ['s'] });
      assert.equal(done.message, 'Import done');
      assert.deepEqual(done.expiresAt, expiresAt);
      assert.deepEqual(done.input, { replaced: true });
      assert.ok(done.updatedAt.getTime() > task.updatedAt.getTime());
      assert.deepEqual(await catalog.tasks.get(task.id), done);
      const unconditional = await catalog.tasks.update(task.id, { result: null, expiresAt: null });
      assert.equal(unconditional?.result, null);
      assert.equal(unconditional?.expiresAt, null);
      assert.equal(await catalog.tasks.update('unknown', { message: 'x' }), null);
    });

    it('lists tasks filtered by owner, type, status and image', async () => {
      const imageId = crypto.randomUUID();
      const a1 = await catalog.tasks.create(newTask({ owner: 'a', imageId }));
      const a2 = await catalog.tasks.create(newTask({ owner: 'a', type: 'imageops_check' }));
      const b1 = await catalog.tasks.create(newTask({ owner: 'b', imageId }));
      const none = await catalog.tasks.create(newTask({ owner: null }));
      await catalog.tasks.update(a2.id, { status: 'processing' });
      const ids = async (overrides: Partial<TaskListQuery>) =>
        (await catalog.tasks.list(taskQuery(overrides))).map((task) => task.id).sort();
      assert.deepEqual(await ids({}), [a1.id, a2.id, b1.id, none.id].sort());
      assert.deepEqual(await ids({ owner: 'a' }), [a1.id, a2.id].sort());
      assert.deepEqual(await ids({ owner: null }), [none.id]);
      assert.deepEqual(await ids({ type: 'imageops_check' }), [a2.id]);
      assert.deepEqual(await ids({ status: 'pending' }), [a1.id, b1.id, none.id].sort());
      assert.deepEqual(await ids({ imageId }), [a1.id, b1.id].sort());
      assert.deepEqual(await ids({ owner: 'a', imageId }), [a1.id]);
      assert.deepEqual(await catalog.tasks.list(taskQuery({ limit: 0 })), []);
    });

    it('sorts tasks on each key and pages through them exactly once', async () => {
      // Created in a burst, so many share a timestamp and the id tie-breaker matters.
      for (let index = 0; index < 14; index++) {
        const task = await catalog.tasks.create(newTask({ type: index % 2 === 0 ? 'api_image_import' : 'imageops_compress' }));
        if (index % 3 === 0) await catalog.tasks.update(task.id, { status: 'failure' });
      }
      const all = await catalog.tasks.list(taskQuery());
      assert.equal(all.length, 14);
      const value = (task: (typeof all)[number], key: TaskListQuery['sort']['key']): string | number => {
        if (key === 'created_at') return task.createdAt.getTime();
        if (key === 'updated_at') return task.updatedAt.getTime();
        return task[key];
      };
      for (const key of ['created_at', 'updated_at', 'id', 'type', 'status'] as const) {
        for (const dir of ['asc', 'desc'] as const) {
          const expected = [...all]
            .sort((a, b) => {
              const va = value(a, key);
              const vb = value(b, key);
              const order = va < vb ? -1 : va > vb ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
              return dir === 'asc' ? order : -order;
            })
            .map((task) => task.id);
          const sort = { key, dir };
          assert.deepEqual((await catalog.tasks.list(taskQuery({ sort }))).map((task) => task.id), expected, `${key} ${dir}`);
          const paged: string[] = [];
          let marker: (typeof all)[number] | undefined;
          for (let page = 0; page < 50; page++) {
            const batch = await catalog.tasks.list(taskQuery({ sort, marker, limit: 3 }));
            paged.push(...batch.map((task) => task.id));
            if (batch.length < 3) break;
            marker = batch[batch.length - 1];
          }
          assert.deepEqual(paged, expected, `paged ${key} ${dir}`);
        }
      }
    });

    it('claims the oldest pending task of the given types and leases it', async () => {
      const first = await catalog.tasks.create(newTask({ type: 'imageops_check' }));
      await sleep(3);
      await catalog.tasks.create(newTask({ type: 'imageops_check' }));
      await catalog.tasks.create(newTask({ type: 'other' }));
      const before = Date.now();
      const claimed = await catalog.tasks.claimNext(['imageops_check', 'api_image_import'], 'node-1', 60_000);
      assert.ok(claimed);
      assert.equal(claimed.id, first.id);
      assert.equal(claimed.status, 'processing');
      assert.equal(claimed.claimedBy, 'node-1');
      assert.ok((claimed.leaseExpiresAt?.getTime() ?? 0) >= before + 60_000);
      assert.equal(await catalog.tasks.claimNext(['unknown-type'], 'node-1', 60_000), null);
      assert.equal(await catalog.tasks.claimNext([], 'node-1', 60_000), null);
    });

    it('gives concurrent claimers different tasks', async () => {
      const created = [await catalog.tasks.create(newTask()), await catalog.tasks.create(newTask())];
      const [one, two] = await Promise.all([
        catalog.tasks.claimNext(['api_image_import'], 'node-1', 60_000),
        catalog.tasks.claimNext(['api_image_import'], 'node-2', 60_000),
      ]);
      assert.ok(one && two);
      assert.notEqual(one.id, two.id);
      assert.deepEqual([one.id, two.id].sort(), created.map((task) => task.id).sort());
      assert.equal(await catalog.tasks.claimNext(['api_image_import'], 'node-3', 60_000), null);
    });

    it('gives a single task to exactly one of many concurrent claimers', async () => {
      const task = await catalog.tasks.create(newTask());
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, index) => catalog.tasks.claimNext(['api_image_import'], `node-${index}`, 60_000)),
      );
      const winners = claims.filter((claim) => claim !== null);
      assert.equal(winners.length, 1);
      assert.equal(winners[0]?.id, task.id);
      assert.equal((await catalog.tasks.get(task.id))?.claimedBy, winners[0]?.claimedBy);
    });

    it('lets another node take over a task whose lease expired, not one whose lease holds', async () => {
      const task = await catalog.tasks.create(newTask());
      assert.equal((await catalog.tasks.claimNext(['api_image_import'], 'node-1', 250))?.id, task.id);
      assert.equal(await catalog.tasks.claimNext(['api_image_import'], 'node-2', 60_000), null);
      await sleep(300);
      const takenOver = await catalog.tasks.claimNext(['api_image_import'], 'node-2', 60_000);
      assert.equal(takenOver?.id, task.id);
      assert.equal(takenOver?.claimedBy, 'node-2');
      assert.equal(await catalog.tasks.renewLease(task.id, 'node-1', 60_000), false);
    });

    it('renews the lease only for the node holding it, and only while processing', async () => {
      const task = await catalog.tasks.create(newTask());
      assert.equal(await catalog.tasks.renewLease(task.id, 'node-1', 60_000), false);
      const claimed = await catalog.tasks.claimNext(['api_image_import'], 'node-1', 50);
      assert.ok(claimed);
      assert.equal(await catalog.tasks.renewLease(task.id, 'node-1', 60_000), true);
      await sleep(80);
      assert.equal(await catalog.tasks.claimNext(['api_image_import'], 'node-2', 60_000), null);
      assert.ok(((await catalog.tasks.get(task.id))?.leaseExpiresAt?.getTime() ?? 0) > Date.now());
      assert.equal(await catalog.tasks.renewLease(task.id, 'node-2', 60_000), false);
      await catalog.tasks.update(task.id, { status: 'success' });
      assert.equal(await catalog.tasks.renewLease(task.id, 'node-1', 60_000), false);
      assert.equal(await catalog.tasks.claimNext(['api_image_import'], 'node-2', 60_000), null);
    });

    it('finishes a task only for the claim holding it, ending the lease', async () => {
      const task = await catalog.tasks.create(newTask());
      const completion = { status: 'success' as const, message: 'done', result: { image_id: 'x' }, expiresAt: new Date(T0 + 48 * 3600_000) };
      assert.equal(await catalog.tasks.finish(task.id, 'node-1/1', completion), false, 'pending: no claim to finish');
      assert.ok(await catalog.tasks.claimNext(['api_image_import'], 'node-1/1', 60_000));
      assert.equal(await catalog.tasks.finish(task.id, 'node-1/2', completion), false, 'another claim token');
      assert.equal((await catalog.tasks.get(task.id))?.status, 'processing');
      await sleep(5);
      assert.equal(await catalog.tasks.finish(task.id, 'node-1/1', completion), true);
      const done = await catalog.tasks.get(task.id);
      assert.ok(done);
      assert.equal(done.status, 'success');
      assert.equal(done.message, 'done');
      assert.deepEqual(done.result, { image_id: 'x' });
      assert.deepEqual(done.expiresAt, completion.expiresAt);
      assert.equal(done.claimedBy, 'node-1/1', 'the claim stays as a record');
      assert.equal(done.leaseExpiresAt, null);
      assert.ok(done.updatedAt.getTime() > task.updatedAt.getTime());
      assert.equal(await catalog.tasks.finish(task.id, 'node-1/1', { ...completion, status: 'failure' }), false, 'finished once');
      assert.equal((await catalog.tasks.get(task.id))?.status, 'success');
      assert.equal(await catalog.tasks.renewLease(task.id, 'node-1/1', 60_000), false);
      assert.equal(await catalog.tasks.claimNext(['api_image_import'], 'node-2/1', 60_000), null);
      assert.equal(await catalog.tasks.finish('unknown', 'node-1/1', completion), false);
    });

    it('a node whose lease expired and was taken over can neither finish nor release the task', async () => {
      const task = await catalog.tasks.create(newTask());
      assert.ok(await catalog.tasks.claimNext(['api_image_import'], 'node-1/1', 50));
      await sleep(80);
      assert.equal((await catalog.tasks.claimNext(['api_image_import'], 'node-2/1', 60_000))?.id, task.id);
      const failure = { status: 'failure' as const, message: 'stale', result: null, expiresAt: new Date(T0) };
      assert.equal(await catalog.tasks.finish(task.id, 'node-1/1', failure), false);
      assert.equal(await catalog.tasks.release(task.id, 'node-1/1'), false);
      const current = await catalog.tasks.get(task.id);
      assert.equal(current?.status, 'processing');
      assert.equal(current?.claimedBy, 'node-2/1');
      assert.equal(current?.message, '');
    });

    it('an expired but untaken lease still lets its holder finish', async () => {
      const task = await catalog.tasks.create(newTask());
      assert.ok(await catalog.tasks.claimNext(['api_image_import'], 'node-1/1', 30));
      await sleep(60);
      const completion = { status: 'failure' as const, message: 'late', result: null, expiresAt: new Date(T0) };
      assert.equal(await catalog.tasks.finish(task.id, 'node-1/1', completion), true);
      assert.equal((await catalog.tasks.get(task.id))?.status, 'failure');
      assert.equal(await catalog.tasks.claimNext(['api_image_import'], 'node-2/1', 60_000), null);
    });

    it('hands a task back: pending, claim cleared, claimable at once by any node', async () => {
      const task = await catalog.tasks.create(newTask());
      assert.equal(await catalog.tasks.release(task.id, 'node-1/1'), false, 'pending: nothing to hand back');
      assert.ok(await catalog.tasks.claimNext(['api_image_import'], 'node-1/1', 60_000));
      assert.equal(await catalog.tasks.release(task.id, 'node-2/1'), false, 'not the holder');
      await sleep(5);
      assert.equal(await catalog.tasks.release(task.id, 'node-1/1'), true);
      const back = await catalog.tasks.get(task.id);
      assert.ok(back);
      assert.equal(back.status, 'pending');
      assert.equal(back.claimedBy, null);
      assert.equal(back.leaseExpiresAt, null);
      assert.ok(back.updatedAt.getTime() > task.updatedAt.getTime());
      assert.equal(await catalog.tasks.renewLease(task.id, 'node-1/1', 60_000), false);
      assert.equal(await catalog.tasks.release(task.id, 'node-1/1'), false, 'handed back once');
      const again = await catalog.tasks.claimNext(['api_image_import'], 'node-2/1', 60_000);
      assert.equal(again?.id, task.id);
      assert.equal(again?.claimedBy, 'node-2/1');
    });

    it('claims only the given types, so a node can skip the types it has no free slot for', async () => {
      const busy = await catalog.tasks.create(newTask({ type: 'imageops_check' }));
      await sleep(3);
      const free = await catalog.tasks.create(newTask({ type: 'api_image_import' }));
      assert.equal((await catalog.tasks.claimNext(['api_image_import'], 'node-1/1', 60_000))?.id, free.id, 'the older task of a full type is skipped');
      assert.equal(await catalog.tasks.claimNext(['api_image_import'], 'node-1/2', 60_000), null);
      assert.equal((await catalog.tasks.get(busy.id))?.status, 'pending');
    });
  });

  describe('migrations', () => {
    const TABLES = [
      'images',
      'image_properties',
      'image_attributes',
      'image_tags',
      'image_locations',
      'image_members',
      'image_names',
      'image_big_data',
      'tasks',
      'chunked_uploads',
      'upload_chunks',
    ];

    it('roll back completely and apply again', async () => {
      await catalog.images.create(newImage({ name: 'before rollback', tags: ['t'] }));
      await catalog.rollbackAll();
      for (const table of TABLES) assert.equal(await catalog.knex.schema.hasTable(table), false, table);
      await catalog.migrate();
      for (const table of TABLES) assert.equal(await catalog.knex.schema.hasTable(table), true, table);
      assert.deepEqual(await listNames({}), []);
      const image = await catalog.images.create(newImage({ name: 'after', tags: ['t'], properties: { p: 'v' } }));
      assert.deepEqual(await catalog.images.get(image.id), image);
    });

    it('is a no-op when everything is applied', async () => {
      await catalog.migrate();
      await catalog.migrate();
      assert.ok(await catalog.knex.schema.hasTable('images'));
    });
  });
}
