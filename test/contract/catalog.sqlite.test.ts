import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createKnex } from '../../src/catalog/database';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { KnexCatalog } from '../../src/catalog/knex-catalog';
import { catalogContract } from './catalog.suite';

describe('catalog on SQLite (in memory)', () => {
  const opened: KnexCatalog[] = [];

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((catalog) => catalog.close()));
  });

  catalogContract(async () => {
    const catalog = await KnexCatalog.open(parseDatabaseUrl('sqlite://'));
    opened.push(catalog);
    await catalog.migrate();
    return catalog;
  });

  describe('SQLite connection URLs', () => {
    it('reads the in-memory forms', () => {
      assert.deepEqual(parseDatabaseUrl('sqlite://'), { client: 'sqlite', filename: ':memory:', url: 'sqlite://' });
      assert.deepEqual(parseDatabaseUrl('sqlite:///:memory:'), { client: 'sqlite', filename: ':memory:', url: 'sqlite:///:memory:' });
    });

    it('reads relative and absolute paths the way SQLAlchemy does', () => {
      assert.deepEqual(parseDatabaseUrl('sqlite:///data/glint.db'), { client: 'sqlite', filename: 'data/glint.db', url: 'sqlite:///data/glint.db' });
      assert.deepEqual(parseDatabaseUrl('sqlite:////var/lib/glint/glint.db'), {
        client: 'sqlite',
        filename: '/var/lib/glint/glint.db',
        url: 'sqlite:////var/lib/glint/glint.db',
      });
      assert.equal((parseDatabaseUrl('SQLite:///my%20images.db') as { filename: string }).filename, 'my images.db');
    });

    it('rejects what it cannot use, naming the problem', () => {
      assert.throws(() => parseDatabaseUrl('sqlite://host/glint.db'), /names a host/);
      assert.throws(() => parseDatabaseUrl('sqlite:///glint.db?mode=ro'), /query parameters/);
      assert.throws(() => parseDatabaseUrl('postgresql://u:secret@h/db'), (err: Error) => {
        assert.match(err.message, /Unsupported database "postgresql"/);
        assert.doesNotMatch(err.message, /secret/);
        return true;
      });
      assert.throws(() => parseDatabaseUrl('sqlite:///bad%zz.db'), /invalid percent-encoding/);
      assert.throws(() => parseDatabaseUrl('glint.db'), /no scheme/);
      assert.throws(() => parseDatabaseUrl(''), /no scheme/);
    });
  });

  describe('SQLite database files', () => {
    let directory: string;

    beforeEach(() => {
      directory = fs.mkdtempSync(path.join(os.tmpdir(), 'glint-catalog-'));
    });

    afterEach(() => {
      fs.rmSync(directory, { recursive: true, force: true });
    });

    it('creates the parent directory, uses WAL and enforces foreign keys', async () => {
      const filename = path.join(directory, 'nested', 'dir', 'glint.db');
      const knex = createKnex(parseDatabaseUrl(`sqlite:///${filename}`));
      try {
        const catalog = new KnexCatalog(knex);
        await catalog.migrate();
        assert.ok(fs.existsSync(filename));
        const [journal] = (await knex.raw('PRAGMA journal_mode')) as Array<{ journal_mode: string }>;
        assert.equal(journal?.journal_mode, 'wal');
        const [foreignKeys] = (await knex.raw('PRAGMA foreign_keys')) as Array<{ foreign_keys: number }>;
        assert.equal(foreignKeys?.foreign_keys, 1);
      } finally {
        await knex.destroy();
      }
    });

    it('keeps the catalog across reopening', async () => {
      const url = `sqlite:///${path.join(directory, 'glint.db')}`;
      const first = await KnexCatalog.open(parseDatabaseUrl(url));
      await first.migrate();
      await first.tasks.create({ id: 't1', type: 'x', owner: null, imageId: null, requestId: null, userId: null, input: { a: 1 } });
      await first.close();
      const second = await KnexCatalog.open(parseDatabaseUrl(url));
      try {
        await second.migrate();
        assert.deepEqual((await second.tasks.get('t1'))?.input, { a: 1 });
      } finally {
        await second.close();
      }
    });
  });
});
