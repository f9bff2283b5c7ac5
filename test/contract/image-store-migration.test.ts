import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { migrationSource } from '../../migrations';
import { KnexCatalog } from '../../src/catalog/knex-catalog';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { ImageStore } from '../../src/index';
import { createLogger } from '../../src/lib/logger';
import { newImageRecord } from '../support/records';
import { createTestDatabase, type TestDatabase } from '../support/mysql';

/** The container-images migration goes down (taking container images with it, Glance's stay) and up again. */
for (const variant of ['SQLite', 'MySQL/MariaDB'] as const) {
  describe(`container-images migration on ${variant}`, () => {
    let dir: string;
    let database: TestDatabase | undefined;
    let url: string;

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'glint-migration-'));
      if (variant === 'SQLite') {
        url = `sqlite:///${path.join(dir, 'glint.db')}`;
      } else {
        database = await createTestDatabase();
        url = database.config.url;
      }
    });

    after(async () => {
      await database?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('down removes container images and images.kind, keeps Glance images; up again serves the library', async () => {
      const configFile = path.join(dir, 'glint.conf');
      writeFileSync(configFile, `[database]\nconnection = ${url}\n\n[glance_store]\nfilesystem_store_datadir = ${path.join(dir, 'images')}\n`);
      const open = () => ImageStore.open({ configFile, logger: createLogger({ silent: true }) });
      let store = await open();
      const id = await store.create({ names: ['c:1'] });
      await store.setBigData(id, 'k', 'v');
      await store.close();

      const catalog = await KnexCatalog.open(parseDatabaseUrl(url));
      try {
        const glance = await catalog.images.create(newImageRecord({ name: 'g' }));
        await catalog.knex.migrate.down({ migrationSource, name: '20261124000000_container_images' });
        assert.equal(await catalog.knex.schema.hasColumn('images', 'kind'), false);
        assert.deepEqual((await catalog.knex('images').select('id')).map((row: { id: string }) => row.id), [glance.id]);
        for (const table of ['image_names', 'image_attributes', 'image_big_data']) assert.deepEqual(await catalog.knex(table).select(), [], table);
        await catalog.migrate();
        assert.equal((await catalog.images.get(glance.id))?.name, 'g');
      } finally {
        await catalog.close();
      }
      store = await open();
      try {
        assert.deepEqual(await store.images(), []);
        await store.create({ id, names: ['c:1'] });
        assert.equal(await store.lookup('c:1'), id);
      } finally {
        await store.close();
      }
    });
  });
}
