import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KnexCatalog } from '../../src/catalog/knex-catalog';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { algorithmRepositoryContract } from './algorithms.suite';

describe('algorithm registry catalog on SQLite (a database file, two connections)', function () {
  let directory: string;
  const opened: KnexCatalog[] = [];

  beforeEach(function () {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'glint-algorithms-'));
  });

  afterEach(async function () {
    await Promise.all(opened.splice(0).map((catalog) => catalog.close()));
    fs.rmSync(directory, { recursive: true, force: true });
  });

  async function openPair(): Promise<[KnexCatalog, KnexCatalog]> {
    const url = `sqlite:///${path.join(directory, 'glint.db')}`;
    const first = await KnexCatalog.open(parseDatabaseUrl(url));
    opened.push(first);
    await first.migrate();
    const second = await KnexCatalog.open(parseDatabaseUrl(url));
    opened.push(second);
    return [first, second];
  }

  algorithmRepositoryContract(openPair);

  describe('SQLite query plans', function () {
    it('namespace and substring searches read the (live, name, tag) index, not the table', async function () {
      const [catalog] = await openPair();
      const plan = async (sql: string, bindings: unknown[]) =>
        ((await catalog.knex.raw(`EXPLAIN QUERY PLAN ${sql}`, bindings as never)) as Array<{ detail: string }>).map((row) => row.detail).join(' | ');
      const prefix = await plan('select id from algorithm_images where live = 1 and name >= ? and name < ? order by live, name, tag', ['algo', 'algp']);
      assert.match(prefix, /USING (COVERING )?INDEX algorithm_images_live_name_tag_idx \(live=\? AND name>\? AND name<\?\)/);
      const contains = await plan('select id from algorithm_images where live = 1 and instr(name, ?) > 0 order by live, name, tag', ['face']);
      assert.match(contains, /USING (COVERING )?INDEX algorithm_images_live_name_tag_idx \(live=\?\)/);
      assert.doesNotMatch(contains, /TEMP B-TREE/);
      const guard = await plan(
        'select d.image_id from algorithm_image_dependencies d join algorithm_images a on a.id = d.image_id where d.event_type = ? and a.live = 1',
        [7],
      );
      assert.match(guard, /algorithm_image_dependencies_event_type_idx/);
    });
  });
});
