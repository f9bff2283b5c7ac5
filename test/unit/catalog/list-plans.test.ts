import assert from 'node:assert/strict';
import { parseDatabaseUrl } from '../../../src/config/database-url';
import { childStatements, IMAGE_SELECT, imageByIdStatement, type ImageSelect } from '../../../src/catalog/image-rows';
import { imageListStatement } from '../../../src/catalog/image-list-query';
import { KnexCatalog } from '../../../src/catalog/knex-catalog';
import type { Image } from '../../../src/domain/image';
import type { SqlStatement } from '../../../src/catalog/statements';
import { defaultListQuery } from '../../support/list-query';

/**
 * SQLite's plans for the hot reads: the list walks an index in the requested order and stops after
 * `limit` rows, and the child loads read their indexes in ORDER BY order. SQLite plans without
 * statistics unless ANALYZE ran, so an empty database gets the plans a large one does.
 */
describe('catalog query plans on SQLite', () => {
  let catalog: KnexCatalog;

  before(async () => {
    catalog = await KnexCatalog.open(parseDatabaseUrl('sqlite://'));
    await catalog.migrate();
  });

  after(async () => {
    await catalog?.close();
  });

  async function plan(statementOrSelect: SqlStatement | ImageSelect): Promise<string[]> {
    const statement = typeof statementOrSelect === 'function' ? statementOrSelect(IMAGE_SELECT + ', `images`.`children`') : statementOrSelect;
    const rows = (await catalog.knex.raw('EXPLAIN QUERY PLAN ' + statement.sql, statement.bindings)) as Array<{ detail: string }>;
    return rows.map((row) => row.detail);
  }

  const marker = {
    id: '5b1c2f0e-0000-4000-8000-000000000000',
    name: 'm',
    createdAt: new Date(1_700_000_000_000),
    updatedAt: new Date(1_700_000_000_000),
  } as Image;

  function assertOrderedBy(details: string[], index: string): void {
    assert.match(details.join(' | '), new RegExp(`^(SCAN|SEARCH) images USING INDEX ${index}\\b`));
    assert.ok(!details.some((detail) => detail.includes('TEMP B-TREE')), details.join(' | '));
  }

  it('walks (created_at, id) for the default admin and unauthenticated list', async () => {
    assertOrderedBy(await plan(imageListStatement(defaultListQuery())), 'images_created_at_id_idx');
    assertOrderedBy(
      await plan(imageListStatement(defaultListQuery({ scope: { kind: 'everything', projectId: 'p', includeAllCommunity: false } }))),
      'images_created_at_id_idx',
    );
  });

  it('seeks to the marker instead of scanning from the top', async () => {
    const details = await plan(imageListStatement(defaultListQuery({ marker })));
    assertOrderedBy(details, 'images_created_at_id_idx');
    assert.match(details[0], /\(created_at<\?\)/);
    const byName = await plan(
      imageListStatement(
        defaultListQuery({
          marker,
          sort: [
            { key: 'name', dir: 'asc' },
            { key: 'createdAt', dir: 'asc' },
            { key: 'id', dir: 'asc' },
          ],
        }),
      ),
    );
    assert.match(byName[0], /USING INDEX images_name_idx \(name>\?\)/);
  });

  it('reads a visibility, status or owner in list order from its composite index', async () => {
    assertOrderedBy(
      await plan(imageListStatement(defaultListQuery({ scope: { kind: 'project', projectId: null, memberStatus: 'accepted', includeAllCommunity: false } }))),
      'images_visibility_created_at_id_idx',
    );
    for (const [column, value] of [
      ['visibility', 'public'],
      ['status', 'active'],
      ['owner', 'p'],
    ] as const) {
      assertOrderedBy(
        await plan(imageListStatement(defaultListQuery({ filters: [{ column, op: 'eq', value }] }))),
        `images_${column}_created_at_id_idx`,
      );
    }
  });

  it('loads properties, tags and locations of a page in index order, without sorting', async () => {
    const [properties, tags, locations] = await Promise.all(childStatements(['a', 'b', 'c']).map(plan));
    assert.deepEqual(properties, ['SEARCH image_properties USING INDEX sqlite_autoindex_image_properties_1 (image_id=?)']);
    assert.deepEqual(tags, ['SEARCH image_tags USING COVERING INDEX sqlite_autoindex_image_tags_1 (image_id=?)']);
    assert.deepEqual(locations, ['SEARCH image_locations USING INDEX image_locations_image_status_idx (image_id=? AND status=?)']);
  });

  it('reads one image, children included, with one primary-key search', async () => {
    assert.deepEqual(await plan(imageByIdStatement('a', false)), ['SEARCH images USING INDEX sqlite_autoindex_images_1 (id=?)']);
  });
});
