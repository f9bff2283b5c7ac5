import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { KnexCatalog } from '../../src/catalog/knex-catalog';
import type { NewAlgorithmImage } from '../../src/domain/algorithms/algorithm';
import { type ErrorCode, isGlintError } from '../../src/domain/errors';

/**
 * What every catalog backend must do for the algorithm registry. `openPair` returns two catalogs
 * (two connection pools, as two nodes have) on one migrated, empty database; the caller closes them.
 */
export function algorithmRepositoryContract(openPair: () => Promise<[KnexCatalog, KnexCatalog]>): void {
  let catalog: KnexCatalog;
  let other: KnexCatalog;

  beforeEach(async function () {
    [catalog, other] = await openPair();
  });

  function record(overrides: Partial<NewAlgorithmImage> = {}): NewAlgorithmImage {
    return {
      id: randomUUID().replace(/-/g, ''),
      name: 'algo/demo',
      tag: '1.0',
      ports: null,
      mounts: null,
      pvcSize: null,
      factory: 'ehl',
      algoName: 'demo',
      algoDesc: null,
      tvChannel: null,
      pics: null,
      cpuRequests: null,
      gpuRequests: null,
      memRequests: null,
      config: null,
      algoType: '1',
      eventType: null,
      subPaths: null,
      hostPaths: null,
      workingDir: null,
      env: null,
      command: null,
      args: null,
      frameInterval: null,
      frameNumber: null,
      incidentId: null,
      useableFlag: null,
      ...overrides,
    };
  }

  async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(isGlintError(err, code), `expected ${code}, got ${String(err)}`);
      return true;
    });
  }

  const names = (images: Array<{ name: string; tag: string }>) => images.map((image) => `${image.name}:${image.tag}`);

  describe('create and read', function () {
    it('stores every field and reads it back by id and by name+tag', async function () {
      const full = record({
        ports: 'ssh:22',
        mounts: '/data',
        pvcSize: 3,
        algoDesc: '中文描述',
        tvChannel: 4,
        pics: 5,
        cpuRequests: 6,
        gpuRequests: 7,
        memRequests: 8,
        config: '/etc/a.conf',
        algoType: '0',
        eventType: 42,
        subPaths: '/a:/b',
        hostPaths: '/h:/c',
        workingDir: '/work',
        env: 'A:1',
        command: 'run',
        args: '--x',
        frameInterval: 9,
        frameNumber: 10,
        incidentId: 'i',
        useableFlag: '1',
      });
      const created = await catalog.algorithms.create(full, null);
      const expected = { ...full, eventType: 42, dependsOn: null };
      assert.deepEqual(created, expected);
      assert.deepEqual(await catalog.algorithms.get(full.id), expected);
      assert.deepEqual(await other.algorithms.findByNameTag('algo/demo', '1.0'), expected);
      assert.equal(await catalog.algorithms.get('0'.repeat(32)), null);
      assert.equal(await catalog.algorithms.findByNameTag('algo/demo', '2.0'), null);
    });

    it('assigns the number after every one ever used, deleted records included; keeps a supplied one', async function () {
      const first = await catalog.algorithms.create(record({ name: 'algo/a' }), null);
      assert.ok(first.eventType > 0);
      assert.equal((await other.algorithms.get(first.id))?.eventType, first.eventType);
      assert.equal((await catalog.algorithms.create(record({ name: 'algo/b', eventType: 50_000 }), null)).eventType, 50_000);
      const third = await other.algorithms.create(record({ name: 'algo/c' }), null);
      assert.equal(third.eventType, 50_001);
      assert.equal(await catalog.algorithms.markDeleted(third.id), 'deleted');
      assert.equal((await catalog.algorithms.create(record({ name: 'algo/d' }), null)).eventType, 50_002);
    });

    it('a live name+tag is taken (ALGORITHM_EXISTS) until that record is deleted', async function () {
      const first = await catalog.algorithms.create(record(), null);
      await rejectsWith(catalog.algorithms.create(record(), null), 'ALGORITHM_EXISTS');
      await rejectsWith(other.algorithms.create(record({ eventType: 77 }), null), 'ALGORITHM_EXISTS');
      assert.equal(await catalog.algorithms.markDeleted(first.id), 'deleted');
      const second = await catalog.algorithms.create(record(), null);
      assert.equal((await catalog.algorithms.findByNameTag('algo/demo', '1.0'))?.id, second.id);
    });

    it('a live event type is taken (ALGORITHM_EVENT_TYPE_IN_USE); a deleted record frees it', async function () {
      const first = await catalog.algorithms.create(record({ name: 'algo/a', eventType: 9 }), null);
      await rejectsWith(catalog.algorithms.create(record({ name: 'algo/b', eventType: 9 }), null), 'ALGORITHM_EVENT_TYPE_IN_USE');
      assert.equal(await catalog.algorithms.markDeleted(first.id), 'deleted');
      assert.equal((await catalog.algorithms.create(record({ name: 'algo/b', eventType: 9 }), null)).eventType, 9);
    });
  });

  describe('dependencies', function () {
    it('are resolved to event types in the order given; an unknown one writes nothing', async function () {
      await catalog.algorithms.create(record({ name: 'algo/base', eventType: 7 }), null);
      await catalog.algorithms.create(record({ name: 'algo/lib', tag: '2', eventType: 3001 }), null);
      const app = await catalog.algorithms.create(record({ name: 'algo/app', algoType: '0' }), [
        { name: 'algo/lib', tag: '2' },
        { name: 'algo/base', tag: '1.0' },
      ]);
      assert.deepEqual(app.dependsOn, [3001, 7]);
      assert.deepEqual((await other.algorithms.get(app.id))?.dependsOn, [3001, 7]);
      await rejectsWith(catalog.algorithms.create(record({ name: 'algo/x' }), [{ name: 'algo/base', tag: '9' }]), 'ALGORITHM_DEPENDENCY_NOT_FOUND');
      await rejectsWith(catalog.algorithms.create(record({ name: 'algo/x' }), [{ name: '', tag: '1.0' }]), 'ALGORITHM_DEPENDENCY_NOT_FOUND');
      assert.equal(await catalog.algorithms.findByNameTag('algo/x', '1.0'), null);
    });

    it('guard deletion while a live record depends on it; a deleted dependent no longer counts', async function () {
      const base = await catalog.algorithms.create(record({ name: 'algo/base' }), null);
      const app = await catalog.algorithms.create(record({ name: 'algo/app' }), [{ name: 'algo/base', tag: '1.0' }]);
      assert.equal(await catalog.algorithms.hasLiveDependents(base.eventType), true);
      assert.equal(await catalog.algorithms.markDeleted(base.id), 'depended_on');
      assert.equal(await catalog.algorithms.markDeleted(app.id), 'deleted');
      assert.equal(await catalog.algorithms.hasLiveDependents(base.eventType), false);
      assert.equal(await catalog.algorithms.markDeleted(base.id), 'deleted');
      assert.equal(await catalog.algorithms.markDeleted(base.id), 'not_found');
    });

    it('a record depending on itself can still be deleted', async function () {
      const self = await catalog.algorithms.create(record({ name: 'algo/self' }), null);
      await catalog.algorithms.update(self.id, {}, [{ name: 'algo/self', tag: '1.0' }]);
      assert.equal(await catalog.algorithms.hasLiveDependents(self.eventType, self.id), false);
      assert.equal(await catalog.algorithms.markDeleted(self.id), 'deleted');
    });

    it('names by event type: live records only', async function () {
      const a = await catalog.algorithms.create(record({ name: 'algo/a' }), null);
      const b = await catalog.algorithms.create(record({ name: 'algo/b', tag: '2' }), null);
      const gone = await catalog.algorithms.create(record({ name: 'algo/gone' }), null);
      await catalog.algorithms.markDeleted(gone.id);
      const found = await catalog.algorithms.namesByEventType([a.eventType, b.eventType, gone.eventType, 999]);
      assert.deepEqual(Object.fromEntries(found), { [a.eventType]: [{ name: 'algo/a', tag: '1.0' }], [b.eventType]: [{ name: 'algo/b', tag: '2' }] });
    });
  });

  describe('search', function () {
    beforeEach(async function () {
      for (const name of ['algo/face', 'algo/face_x', 'algox/plate', 'algo%/odd', 'face/algo', 'team/structure', 'algo/zeta']) {
        await catalog.algorithms.create(record({ name }), null);
      }
      const gone = await catalog.algorithms.create(record({ name: 'algo/deleted' }), null);
      await catalog.algorithms.markDeleted(gone.id);
    });

    it('by namespace: a literal, case-sensitive name prefix, in name order, live records only', async function () {
      const search = (namePrefix: string) => catalog.algorithms.search({ namePrefix, nameContains: null });
      assert.deepEqual(names(await search('algo')), ['algo%/odd:1.0', 'algo/face:1.0', 'algo/face_x:1.0', 'algo/zeta:1.0', 'algox/plate:1.0']);
      assert.deepEqual(names(await search('algo/')), ['algo/face:1.0', 'algo/face_x:1.0', 'algo/zeta:1.0']);
      assert.deepEqual(names(await search('algo%')), ['algo%/odd:1.0']);
      assert.deepEqual(names(await search('algo_')), []);
      assert.deepEqual(names(await search('ALGO')), []);
    });

    it('by substring: literal and case-sensitive; combined with a namespace', async function () {
      const search = (nameContains: string, namePrefix: string | null = null) => catalog.algorithms.search({ namePrefix, nameContains });
      assert.deepEqual(names(await search('face')), ['algo/face:1.0', 'algo/face_x:1.0', 'face/algo:1.0']);
      assert.deepEqual(names(await search('_x')), ['algo/face_x:1.0']);
      assert.deepEqual(names(await search('o_')), []);
      assert.deepEqual(names(await search('FACE')), []);
      assert.deepEqual(names(await search('struct')), ['team/structure:1.0']);
      assert.deepEqual(names(await search('algo', 'face')), ['face/algo:1.0']);
      assert.equal((await catalog.algorithms.search({ namePrefix: null, nameContains: null })).length, 7);
    });
  });

  describe('update', function () {
    it('writes the given columns and replaces the dependencies; null for an unknown or deleted record', async function () {
      await catalog.algorithms.create(record({ name: 'algo/base' }), null);
      const app = await catalog.algorithms.create(record({ name: 'algo/app', algoDesc: 'old', pvcSize: 2 }), null);
      const updated = await catalog.algorithms.update(app.id, { algoDesc: 'new', cpuRequests: 3 }, [{ name: 'algo/base', tag: '1.0' }]);
      assert.equal(updated?.algoDesc, 'new');
      assert.equal(updated?.cpuRequests, 3);
      assert.equal(updated?.pvcSize, 2);
      const baseEventType = (await catalog.algorithms.findByNameTag('algo/base', '1.0'))?.eventType as number;
      assert.deepEqual(updated?.dependsOn, [baseEventType]);
      assert.equal(await catalog.algorithms.hasLiveDependents(baseEventType), true);
      const kept = await catalog.algorithms.update(app.id, { factory: 'x' }, null);
      assert.deepEqual(kept?.dependsOn, [baseEventType]);
      await rejectsWith(catalog.algorithms.update(app.id, {}, [{ name: 'algo/none', tag: '1' }]), 'ALGORITHM_DEPENDENCY_NOT_FOUND');
      assert.equal(await catalog.algorithms.update('f'.repeat(32), { factory: 'x' }, null), null);
      await catalog.algorithms.markDeleted(app.id);
      assert.equal(await catalog.algorithms.update(app.id, { factory: 'y' }, null), null);
    });
  });

  describe('two nodes at once', function () {
    it('registering the same name+tag concurrently leaves exactly one live record', async function () {
      for (let round = 0; round < 5; round++) {
        const name = `algo/race-${round}`;
        const attempts = Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? catalog : other).algorithms.create(record({ name }), null));
        const outcomes = await Promise.allSettled(attempts);
        const won = outcomes.filter((o) => o.status === 'fulfilled');
        assert.equal(won.length, 1, `round ${round}: ${won.length} registrations won`);
        for (const lost of outcomes.filter((o) => o.status === 'rejected')) {
          assert.ok(isGlintError((lost as PromiseRejectedResult).reason, 'ALGORITHM_EXISTS'), String((lost as PromiseRejectedResult).reason));
        }
        const live = await other.algorithms.search({ namePrefix: name, nameContains: null });
        assert.equal(live.length, 1);
      }
    });

    it('concurrent registrations of different names each get their own event type', async function () {
      const created = await Promise.all(
        Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? catalog : other).algorithms.create(record({ name: `algo/many-${i}` }), null)),
      );
      assert.equal(new Set(created.map((image) => image.eventType)).size, 12);
    });

    it('a dependency deleted while a dependent registers: one of the two wins, never both', async function () {
      for (let round = 0; round < 5; round++) {
        const base = await catalog.algorithms.create(record({ name: `algo/dep-base-${round}` }), null);
        const [registered, deleted] = await Promise.allSettled([
          catalog.algorithms.create(record({ name: `algo/dep-app-${round}` }), [{ name: `algo/dep-base-${round}`, tag: '1.0' }]),
          other.algorithms.markDeleted(base.id),
        ]);
        const dependentLive = registered.status === 'fulfilled';
        const baseDeleted = deleted.status === 'fulfilled' && deleted.value === 'deleted';
        assert.ok(dependentLive !== baseDeleted, `round ${round}: dependent live ${dependentLive}, base deleted ${baseDeleted}`);
      }
    });
  });
}
