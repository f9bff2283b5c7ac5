import assert from 'node:assert/strict';
import { KnexCatalog } from '../../src/catalog/knex-catalog';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { createTestDatabase, type TestDatabase } from '../support/mysql';
import { algorithmRepositoryContract } from './algorithms.suite';

describe('algorithm registry catalog on MySQL/MariaDB (two pools on one database)', function () {
  let database: TestDatabase;
  let first: KnexCatalog;
  let second: KnexCatalog;

  // One database for the run, emptied before each test.
  before(async function () {
    database = await createTestDatabase();
    first = await KnexCatalog.open(parseDatabaseUrl(database.config.url));
    await first.migrate();
    second = await KnexCatalog.open(parseDatabaseUrl(database.config.url));
  });

  after(async function () {
    await first?.close();
    await second?.close();
    await database?.drop();
  });

  algorithmRepositoryContract(async () => {
    await first.knex('algorithm_image_dependencies').delete();
    await first.knex('algorithm_images').delete();
    return [first, second];
  });

  it('creates the registry tables with a binary, NO PAD utf8mb4 collation', async function () {
    const rows = (await first
      .knex('information_schema.TABLES')
      .select({ name: 'TABLE_NAME', collation: 'TABLE_COLLATION' })
      .where('TABLE_SCHEMA', database.config.database)
      .whereIn('TABLE_NAME', ['algorithm_images', 'algorithm_image_dependencies'])) as Array<{ name: string; collation: string }>;
    assert.equal(rows.length, 2);
    for (const row of rows) assert.match(row.collation, /^utf8mb4_(nopad_bin|0900_bin)$/, row.name);
  });

  it('a namespace search is a range of the (live, name, tag) index', async function () {
    const [explained] = (await first.knex.raw('EXPLAIN SELECT id FROM algorithm_images WHERE live = 1 AND name >= ? AND name < ? ORDER BY live, name, tag', [
      'algo',
      'algp',
    ])) as [Array<{ key: string | null; type: string }>];
    // either index leading with name serves the range; the planner picks by statistics
    assert.match(String(explained[0].key), /^algorithm_images_(live_name_tag_idx|name_tag_live_uq)$/);
    assert.equal(explained[0].type, 'range');
  });
});
