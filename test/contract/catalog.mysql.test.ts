import assert from 'node:assert/strict';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { KnexCatalog } from '../../src/catalog/knex-catalog';
import { useMigratedCatalog } from '../support/mysql';
import { catalogContract } from './catalog.suite';

/** Children before parents, so deleting never trips a foreign key. */
const TABLES_TO_EMPTY = [
  'upload_chunks',
  'chunked_uploads',
  'tasks',
  'image_big_data',
  'image_names',
  'image_members',
  'image_locations',
  'image_tags',
  'image_attributes',
  'image_properties',
  'images',
];

describe('catalog on MySQL/MariaDB', () => {
  // One database for the run, emptied before each test.
  const mysql = useMigratedCatalog();

  catalogContract(async () => {
    await mysql.empty(TABLES_TO_EMPTY);
    return mysql.catalog;
  });

  describe('MySQL specifics', () => {
    it('creates every table with a binary, NO PAD utf8mb4 collation', async () => {
      const rows = (await mysql.catalog
        .knex('information_schema.TABLES')
        .select({ name: 'TABLE_NAME', collation: 'TABLE_COLLATION' })
        .where('TABLE_SCHEMA', mysql.database.config.database)
        .whereIn('TABLE_NAME', TABLES_TO_EMPTY)) as Array<{ name: string; collation: string }>;
      assert.equal(rows.length, TABLES_TO_EMPTY.length);
      for (const row of rows) assert.match(row.collation, /^utf8mb4_(nopad_bin|0900_bin)$/, row.name);
    });

    it('fails to open when the server cannot be reached', async () => {
      await assert.rejects(
        KnexCatalog.open({ ...mysql.database.config, port: 1, url: 'mysql://root@127.0.0.1:1/x' }),
        (err: Error) => /ECONNREFUSED|connect/i.test(`${(err as { code?: string }).code} ${err.message}`),
      );
    });
  });

  describe('MySQL connection URLs', () => {
    it('reads the SQLAlchemy forms Glance uses', () => {
      assert.deepEqual(parseDatabaseUrl('mysql+pymysql://glance:s%40cret@db.example.com:3307/glance?charset=utf8'), {
        client: 'mysql',
        host: 'db.example.com',
        port: 3307,
        user: 'glance',
        password: 's@cret',
        database: 'glance',
        url: 'mysql+pymysql://glance:s%40cret@db.example.com:3307/glance?charset=utf8',
      });
      const plain = parseDatabaseUrl('mysql://root@localhost/glint');
      assert.equal(plain.client, 'mysql');
      if (plain.client === 'mysql') {
        assert.equal(plain.port, 3306);
        assert.equal(plain.password, '');
      }
      const mysqldb = parseDatabaseUrl('mysql+mysqldb://u:p@[::1]/glint');
      assert.equal(mysqldb.client === 'mysql' && mysqldb.host, '::1');
    });

    it('rejects incomplete URLs without echoing the password', () => {
      const hidesPassword = (pattern: RegExp) => (err: Error) => {
        assert.match(err.message, pattern);
        assert.doesNotMatch(err.message, /hunter2/);
        return true;
      };
      assert.throws(() => parseDatabaseUrl('mysql+pymysql://glance:hunter2@host'), hidesPassword(/must name exactly one database/));
      assert.throws(() => parseDatabaseUrl('mysql+pymysql://glance:hunter2@host:99999/glance'), hidesPassword(/invalid port|malformed/));
      assert.throws(() => parseDatabaseUrl('mysql+pymysql://:hunter2@host/glance'), hidesPassword(/no user name/));
      assert.throws(() => parseDatabaseUrl('mysql+oursql://glance:hunter2@host/glance'), hidesPassword(/Unsupported database/));
    });
  });
});
