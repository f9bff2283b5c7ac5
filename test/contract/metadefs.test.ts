import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KnexCatalog } from '../../src/catalog/knex-catalog';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { isGlintError } from '../../src/domain/errors';
import { EMPTY_CONTENTS, type NamespaceContents, type NewNamespace } from '../../src/domain/metadefs/model';
import type { MetadefRepository } from '../../src/domain/metadefs/repository';
import { createTestDatabase, type TestDatabase } from '../support/mysql';

const TABLES = ['metadef_namespace_resource_types', 'metadef_objects', 'metadef_properties', 'metadef_tags', 'metadef_namespaces', 'metadef_resource_types'];

function ns(name: string, extra: Partial<NewNamespace> = {}): NewNamespace {
  return { namespace: name, displayName: null, description: null, visibility: 'private', protected: false, owner: 'p1', ...extra };
}

const CONTENTS: NamespaceContents = {
  resourceTypeAssociations: [{ name: 'OS::Glance::Image', prefix: 'hw_', propertiesTarget: null }],
  properties: [{ name: 'cpu', schema: { type: 'integer', title: 'CPU', minimum: 1 } }],
  objects: [{ name: 'obj', description: 'an object', required: ['a'], properties: { a: { type: 'string', title: 'A' } } }],
  tags: ['t1', 't2'],
};

const rejects = async (work: Promise<unknown>, code: 'METADEF_EXISTS' | 'METADEF_NOT_FOUND') => {
  await assert.rejects(work, (err: unknown) => isGlintError(err, code));
};

/** The metadefs repository contract, on whichever catalog `open` returns (emptied). */
function metadefContract(open: () => Promise<{ repo: MetadefRepository; count: (table: string) => Promise<number> }>) {
  let repo: MetadefRepository;
  let count: (table: string) => Promise<number>;
  beforeEach(async function () {
    ({ repo, count } = await open());
  });

  it('creates a namespace with its contents in one go, and reads each back', async function () {
    const created = await repo.createNamespace(ns('ns1', { visibility: 'public', displayName: 'One' }), CONTENTS);
    assert.equal(created.namespace, 'ns1');
    assert.equal(created.displayName, 'One');
    const id = created.id;
    assert.deepEqual((await repo.listProperties(id)).map((p) => [p.name, p.schema]), [['cpu', { type: 'integer', title: 'CPU', minimum: 1 }]]);
    const [object] = await repo.listObjects(id);
    assert.deepEqual([object.name, object.description, object.required, object.properties], ['obj', 'an object', ['a'], { a: { type: 'string', title: 'A' } }]);
    assert.deepEqual((await repo.listTags(id, { sort: { key: 'name', dir: 'asc' } })).map((t) => t.name), ['t1', 't2']);
    assert.deepEqual((await repo.listAssociations([id])).get(id)?.map((a) => [a.name, a.prefix]), [['OS::Glance::Image', 'hw_']]);
    assert.deepEqual((await repo.listResourceTypes()).map((t) => [t.name, t.protected]), [['OS::Glance::Image', false]]);
  });

  it('a duplicate namespace, or duplicate contents, is METADEF_EXISTS and writes nothing', async function () {
    await repo.createNamespace(ns('ns1'), EMPTY_CONTENTS);
    await rejects(repo.createNamespace(ns('ns1'), EMPTY_CONTENTS), 'METADEF_EXISTS');
    await rejects(repo.createNamespace(ns('ns2'), { ...EMPTY_CONTENTS, tags: ['x', 'x'] }), 'METADEF_EXISTS');
    assert.equal(await repo.getNamespace('ns2'), null);
    assert.equal(await count('metadef_tags'), 0);
  });

  it('lists by scope, visibility and resource type, paging with a marker in either direction', async function () {
    await repo.createNamespace(ns('a-pub', { visibility: 'public', owner: 'other' }), { ...EMPTY_CONTENTS, resourceTypeAssociations: [{ name: 'OS::Nova::Flavor', prefix: null, propertiesTarget: null }] });
    await repo.createNamespace(ns('b-mine', { owner: 'p1' }), EMPTY_CONTENTS);
    await repo.createNamespace(ns('c-theirs', { owner: 'other' }), EMPTY_CONTENTS);
    const names = async (query: Partial<Parameters<MetadefRepository['listNamespaces']>[0]>) =>
      (await repo.listNamespaces({ scope: { kind: 'everything' }, sort: { key: 'namespace', dir: 'asc' }, limit: 10, ...query })).map((n) => n.namespace);
    assert.deepEqual(await names({}), ['a-pub', 'b-mine', 'c-theirs']);
    assert.deepEqual(await names({ scope: { kind: 'owner', owner: 'p1' } }), ['a-pub', 'b-mine']);
    assert.deepEqual(await names({ scope: { kind: 'owner', owner: null } }), ['a-pub']);
    assert.deepEqual(await names({ visibility: 'private' }), ['b-mine', 'c-theirs']);
    assert.deepEqual(await names({ resourceTypes: ['OS::Nova::Flavor', 'OS::Cinder::Volume'] }), ['a-pub']);
    const first = await repo.listNamespaces({ scope: { kind: 'everything' }, sort: { key: 'namespace', dir: 'desc' }, limit: 2 });
    assert.deepEqual(first.map((n) => n.namespace), ['c-theirs', 'b-mine']);
    assert.deepEqual(await names({ sort: { key: 'namespace', dir: 'desc' }, marker: first[1] }), ['a-pub']);
    // namespaces created in the same millisecond still page without loss or repeat (id breaks ties)
    const byCreation: string[] = [];
    let marker;
    for (;;) {
      const page = await repo.listNamespaces({ scope: { kind: 'everything' }, sort: { key: 'created_at', dir: 'desc' }, limit: 1, marker });
      if (page.length === 0) break;
      byCreation.push(page[0].namespace);
      marker = page[0];
    }
    assert.deepEqual(byCreation, ['c-theirs', 'b-mine', 'a-pub']);
  });

  it('updates and renames a namespace; a rename onto another is METADEF_EXISTS', async function () {
    const one = await repo.createNamespace(ns('one'), EMPTY_CONTENTS);
    await repo.createNamespace(ns('two'), EMPTY_CONTENTS);
    const renamed = await repo.updateNamespace(one.id, ns('uno', { protected: true, visibility: 'public' }));
    assert.deepEqual([renamed?.namespace, renamed?.protected, renamed?.visibility], ['uno', true, 'public']);
    await rejects(repo.updateNamespace(one.id, ns('two')), 'METADEF_EXISTS');
    assert.equal(await repo.updateNamespace(one.id + 1000, ns('gone')), null);
  });

  it('deleting a namespace deletes its contents and associations, not the resource types', async function () {
    const created = await repo.createNamespace(ns('ns1'), CONTENTS);
    assert.equal(await repo.deleteNamespace(created.id), true);
    for (const table of ['metadef_objects', 'metadef_properties', 'metadef_tags', 'metadef_namespace_resource_types']) assert.equal(await count(table), 0, table);
    assert.equal(await count('metadef_resource_types'), 1);
    assert.equal(await repo.deleteNamespace(created.id), false);
  });

  it('objects and properties: create, duplicate, rename, rename collision, delete', async function () {
    const { id } = await repo.createNamespace(ns('ns1'), EMPTY_CONTENTS);
    await repo.createObject(id, { name: 'o1', description: null, required: [], properties: {} });
    await repo.createObject(id, { name: 'o2', description: null, required: [], properties: {} });
    await rejects(repo.createObject(id, { name: 'o1', description: null, required: [], properties: {} }), 'METADEF_EXISTS');
    await rejects(repo.updateObject(id, 'o2', { name: 'o1', description: null, required: [], properties: {} }), 'METADEF_EXISTS');
    const renamed = await repo.updateObject(id, 'o2', { name: 'o3', description: 'd', required: ['x'], properties: {} });
    assert.deepEqual([renamed?.name, renamed?.description, renamed?.required], ['o3', 'd', ['x']]);
    assert.equal(await repo.updateObject(id, 'nope', { name: 'n', description: null, required: [], properties: {} }), null);
    assert.equal(await repo.deleteObject(id, 'o3'), true);
    assert.deepEqual((await repo.listObjects(id)).map((o) => o.name), ['o1']);

    await repo.createProperty(id, { name: 'p1', schema: { type: 'string', title: 'P' } });
    await rejects(repo.createProperty(id, { name: 'p1', schema: { type: 'string', title: 'P' } }), 'METADEF_EXISTS');
    const changed = await repo.updateProperty(id, 'p1', { name: 'p2', schema: { type: 'integer', title: 'Q' } });
    assert.deepEqual([changed?.name, changed?.schema], ['p2', { type: 'integer', title: 'Q' }]);
    assert.equal(await repo.getProperty(id, 'p1'), null);
  });

  it('tags: a bulk create replaces the tags unless appending; a duplicate leaves the old set', async function () {
    const { id } = await repo.createNamespace(ns('ns1'), { ...EMPTY_CONTENTS, tags: ['old'] });
    const names = async () => (await repo.listTags(id, { sort: { key: 'name', dir: 'asc' } })).map((t) => t.name);
    assert.deepEqual((await repo.createTags(id, ['a', 'b'], false)).map((t) => t.name), ['a', 'b']);
    assert.deepEqual(await names(), ['a', 'b']);
    await repo.createTags(id, ['c'], true);
    assert.deepEqual(await names(), ['a', 'b', 'c']);
    await rejects(repo.createTags(id, ['d', 'd'], false), 'METADEF_EXISTS');
    await rejects(repo.createTags(id, ['a'], true), 'METADEF_EXISTS');
    assert.deepEqual(await names(), ['a', 'b', 'c']);
    await rejects(repo.renameTag(id, 'a', 'b'), 'METADEF_EXISTS');
    assert.equal((await repo.renameTag(id, 'a', 'z'))?.name, 'z');
    const page = await repo.listTags(id, { sort: { key: 'name', dir: 'asc' }, limit: 1, marker: (await repo.getTag(id, 'b')) ?? undefined });
    assert.deepEqual(page.map((t) => t.name), ['c']);
  });

  it('associations: an unknown resource type is created; twice is METADEF_EXISTS; delete', async function () {
    const { id } = await repo.createNamespace(ns('ns1'), EMPTY_CONTENTS);
    const made = await repo.createAssociation(id, { name: 'OS::Cinder::Volume', prefix: 'x_', propertiesTarget: 'image' });
    assert.deepEqual([made.name, made.prefix, made.propertiesTarget], ['OS::Cinder::Volume', 'x_', 'image']);
    await rejects(repo.createAssociation(id, { name: 'OS::Cinder::Volume', prefix: null, propertiesTarget: null }), 'METADEF_EXISTS');
    assert.equal(await repo.deleteAssociation(id, 'OS::Cinder::Volume'), true);
    assert.equal(await repo.deleteAssociation(id, 'OS::Cinder::Volume'), false);
    assert.equal(await repo.deleteAssociation(id, 'Unknown'), false);
    assert.deepEqual((await repo.listResourceTypes()).map((t) => t.name), ['OS::Cinder::Volume']);
  });

  it('importNamespace: created once, then skip / merge / prefer_new / overwrite, never duplicating', async function () {
    assert.equal(await repo.importNamespace(ns('OS::X', { owner: 'admin' }), CONTENTS, 'skip'), 'created');
    assert.equal(await repo.importNamespace(ns('OS::X', { owner: 'admin', displayName: 'new' }), CONTENTS, 'skip'), 'skipped');
    assert.equal((await repo.getNamespace('OS::X'))?.displayName, null);
    const more = { ...CONTENTS, tags: ['t1', 't3'], properties: [{ name: 'cpu', schema: { type: 'integer', title: 'CPUs' } }] };
    assert.equal(await repo.importNamespace(ns('OS::X', { owner: 'admin' }), more, 'merge'), 'updated');
    const id = (await repo.getNamespace('OS::X'))!.id;
    assert.deepEqual((await repo.listTags(id, { sort: { key: 'name', dir: 'asc' } })).map((t) => t.name), ['t1', 't2', 't3']);
    assert.equal((await repo.getProperty(id, 'cpu'))?.schema.title, 'CPU');
    await repo.importNamespace(ns('OS::X', { owner: 'admin', displayName: 'New' }), more, 'prefer_new');
    assert.equal((await repo.getProperty(id, 'cpu'))?.schema.title, 'CPUs');
    assert.equal((await repo.getNamespace('OS::X'))?.displayName, 'New');
    await repo.importNamespace(ns('OS::X', { owner: 'admin' }), { ...EMPTY_CONTENTS, tags: ['only'] }, 'overwrite');
    assert.deepEqual((await repo.listTags(id, { sort: { key: 'name', dir: 'asc' } })).map((t) => t.name), ['only']);
    assert.equal(await count('metadef_objects'), 0);
    assert.equal(await count('metadef_namespaces'), 1);
    // the loader's resource types are seeded (protected)
    assert.deepEqual((await repo.listResourceTypes()).map((t) => [t.name, t.protected]), [['OS::Glance::Image', true]]);
    await repo.deleteAll();
    for (const table of TABLES) assert.equal(await count(table), 0, table);
  });
}

describe('metadefs catalog on SQLite (a database file)', function () {
  let directory: string;
  let catalog: KnexCatalog | undefined;
  afterEach(async function () {
    await catalog?.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });
  metadefContract(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'glint-metadefs-'));
    catalog = await KnexCatalog.open(parseDatabaseUrl(`sqlite:///${path.join(directory, 'glint.db')}`));
    await catalog.migrate();
    const knex = catalog.knex;
    return { repo: catalog.metadefs, count: async (table) => Number(((await knex(table).count({ n: '*' })) as Array<{ n: number }>)[0].n) };
  });
});

describe('metadefs catalog on MySQL/MariaDB', function () {
  let database: TestDatabase;
  let catalog: KnexCatalog;
  before(async function () {
    database = await createTestDatabase();
    catalog = await KnexCatalog.open(parseDatabaseUrl(database.config.url));
    await catalog.migrate();
  });
  after(async function () {
    await catalog?.close();
    await database?.drop();
  });
  metadefContract(async () => {
    for (const table of TABLES) await catalog.knex(table).delete();
    const knex = catalog.knex;
    return { repo: catalog.metadefs, count: async (table) => Number(((await knex(table).count({ n: '*' })) as Array<{ n: number }>)[0].n) };
  });

  it('creates the metadef tables with a binary, NO PAD utf8mb4 collation', async function () {
    const rows = (await catalog
      .knex('information_schema.TABLES')
      .select({ name: 'TABLE_NAME', collation: 'TABLE_COLLATION' })
      .where('TABLE_SCHEMA', database.config.database)
      .whereIn('TABLE_NAME', TABLES)) as Array<{ name: string; collation: string }>;
    assert.equal(rows.length, TABLES.length);
    for (const row of rows) assert.match(row.collation, /^utf8mb4_(nopad_bin|0900_bin)$/, row.name);
  });
});
