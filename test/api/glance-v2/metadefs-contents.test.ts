import assert from 'node:assert/strict';
import fc from 'fast-check';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';

/** /v2/metadefs objects, properties, tags and resource types, and the calls Tempest's metadefs modules make. */

const ADMIN = { ...as('p1', 'admin'), Accept: 'application/json' };
const READER = { ...as('p2', 'reader,member'), Accept: 'application/json' };
const NS = '/v2/metadefs/namespaces';
const message = (res: { body: { message?: string } }) => String(res.body.message).split('<br')[0];

describe('Glance v2: metadefs objects, properties, tags, resource types', function () {
  let app: TestApp;
  beforeEach(async function () {
    app = await startTestApp(TRUSTED);
    assert.equal((await app.http.post(NS).set(ADMIN).send({ namespace: 'ns', visibility: 'public' })).status, 201);
  });
  afterEach(async function () {
    await app.close();
  });

  it('objects: create → 201, show, list, rename, 409 on duplicate or rename collision, 404s, delete', async function () {
    const made = await app.http.post(`${NS}/ns/objects`).set(ADMIN).send({ name: 'o1', description: 'first', required: ['a'], properties: { a: { title: 'A', type: 'string', enum: ['x'] } } });
    assert.equal(made.status, 201);
    assert.deepEqual(Object.keys(made.body), ['name', 'required', 'description', 'properties', 'created_at', 'updated_at', 'self', 'schema']);
    assert.equal(made.body.self, '/v2/metadefs/namespaces/ns/objects/o1');
    assert.equal((await app.http.post(`${NS}/ns/objects`).set(ADMIN).send({ name: 'o2' })).status, 201);
    const dup = await app.http.post(`${NS}/ns/objects`).set(ADMIN).send({ name: 'o1' });
    assert.equal(dup.status, 409);
    assert.equal(message(dup), 'A metadata definition object with name=o1 already exists in namespace=ns.');
    const badProperty = await app.http.post(`${NS}/ns/objects`).set(ADMIN).send({ name: 'o3', properties: { a: { type: 'string' } } });
    assert.equal(badProperty.status, 400);
    assert.match(message(badProperty), /'title' is a required property/);
    const list = await app.http.get(`${NS}/ns/objects`).set(READER);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.objects.map((o: { name: string }) => o.name), ['o1', 'o2']);
    assert.equal(list.body.schema, 'v2/schemas/metadefs/objects');
    assert.equal((await app.http.put(`${NS}/ns/objects/o2`).set(ADMIN).send({ name: 'o1' })).status, 409);
    const renamed = await app.http.put(`${NS}/ns/objects/o2`).set(ADMIN).send({ name: 'o9', description: 'renamed' });
    assert.equal(renamed.status, 200);
    assert.deepEqual([renamed.body.name, renamed.body.description], ['o9', 'renamed']);
    assert.equal(message(await app.http.get(`${NS}/ns/objects/o2`).set(ADMIN)), 'Could not find metadata object o2');
    // the write answers echo what the request gave; GET always shows required and properties
    const bare = await app.http.put(`${NS}/ns/objects/o9`).set(ADMIN).send({ name: 'o9' });
    assert.deepEqual(Object.keys(bare.body), ['name', 'created_at', 'updated_at', 'self', 'schema']);
    const shownBare = await app.http.get(`${NS}/ns/objects/o9`).set(ADMIN);
    assert.deepEqual([shownBare.body.required, shownBare.body.properties, shownBare.body.description], [[], {}, undefined]);
    assert.equal((await app.http.post(`${NS}/ns/objects`).set(READER).send({ name: 'r' })).status, 403);
    assert.equal((await app.http.delete(`${NS}/ns/objects/o9`).set(ADMIN)).status, 204);
    assert.equal((await app.http.delete(`${NS}/ns/objects/o9`).set(ADMIN)).status, 404);
    assert.equal(message(await app.http.get(`${NS}/absent/objects`).set(ADMIN)), 'Metadata definition namespace=absent was not found.');
  });

  it('properties: the definition is checked against the property schema, kept in Glance\'s key order, renamed, deleted', async function () {
    const missingType = await app.http.post(`${NS}/ns/properties`).set(ADMIN).send({ name: 'p', title: 'P' });
    assert.equal(missingType.status, 400);
    assert.match(message(missingType), /^Provided object does not match schema 'property': 'type' is a required property/);
    const made = await app.http.post(`${NS}/ns/properties`).set(ADMIN).send({ enum: ['a', 'b'], default: 'a', title: 'P', type: 'string', name: 'p' });
    assert.equal(made.status, 201);
    assert.deepEqual(made.body, { name: 'p', type: 'string', title: 'P', default: 'a', enum: ['a', 'b'] });
    assert.equal((await app.http.post(`${NS}/ns/properties`).set(ADMIN).send({ name: 'p', title: 'P', type: 'string' })).status, 409);
    // Glance's PropertyType conversions: default as text, integer limits truncated, enum of strings only
    const converted = await app.http.post(`${NS}/ns/properties`).set(ADMIN).send({ name: 'n', title: 'N', type: 'number', default: 8, minimum: 1.5, readonly: false });
    assert.deepEqual(converted.body, { name: 'n', type: 'number', title: 'N', default: '8', readonly: false, minimum: 1 });
    assert.equal((await app.http.post(`${NS}/ns/properties`).set(ADMIN).send({ name: 'b', title: 'B', type: 'boolean', default: true })).body.default, 'True');
    const badEnum = await app.http.post(`${NS}/ns/properties`).set(ADMIN).send({ name: 'e', title: 'E', type: 'string', enum: ['a', 1] });
    assert.equal(badEnum.status, 400);
    assert.match(message(badEnum), /^Invalid input for field\/attribute enum\. .*Wrong type\. Expected '<class 'str'>', got '<class 'int'>'$/);
    for (const name of ['n', 'b']) assert.equal((await app.http.delete(`${NS}/ns/properties/${name}`).set(ADMIN)).status, 204);
    assert.deepEqual((await app.http.get(`${NS}/ns/properties`).set(READER)).body, { properties: { p: { name: 'p', type: 'string', title: 'P', default: 'a', enum: ['a', 'b'] } } });
    const updated = await app.http.put(`${NS}/ns/properties/p`).set(ADMIN).send({ name: 'q', title: 'Q', type: 'integer', minimum: 0 });
    assert.deepEqual(updated.body, { name: 'q', type: 'integer', title: 'Q', minimum: 0 });
    assert.equal(message(await app.http.get(`${NS}/ns/properties/p`).set(ADMIN)), 'Could not find property p');
    // ?resource_type= strips that association's prefix; an unknown type, a missing association or another prefix → 404
    await app.http.post(`${NS}/ns/resource_types`).set(ADMIN).send({ name: 'OS::Glance::Image', prefix: 'hw_' });
    await app.http.post(`${NS}/ns/resource_types`).set(ADMIN).send({ name: 'OS::Nova::Flavor' });
    assert.equal((await app.http.get(`${NS}/ns/properties/hw_q?resource_type=OS::Glance::Image`).set(ADMIN)).body.name, 'q');
    for (const [query, text] of [
      ['hw_q?resource_type=Nope', 'The metadata definition resource-type with name=Nope, was not found.'],
      ['q?resource_type=OS::Glance::Image', "Property q does not start with the expected resource type association prefix of 'hw_'."],
      ['q?resource_type=OS::Nova::Flavor', "Property q does not start with the expected resource type association prefix of 'None'."],
    ]) {
      const res = await app.http.get(`${NS}/ns/properties/${query}`).set(ADMIN);
      assert.equal(res.status, 404, query);
      assert.equal(message(res), text);
    }
    assert.equal((await app.http.delete(`${NS}/ns/properties/q`).set(ADMIN)).status, 204);
    assert.deepEqual((await app.http.get(`${NS}/ns/properties`).set(ADMIN)).body, { properties: {} });
  });

  it('tags: POST /tags replaces unless X-OpenStack-Append: true; single create, rename, 409s, list paging, delete', async function () {
    assert.equal((await app.http.post(`${NS}/ns/tags/old`).set(ADMIN)).status, 201);
    const bulk = await app.http.post(`${NS}/ns/tags`).set(ADMIN).send({ tags: [{ name: 'a' }, { name: 'b' }] });
    assert.equal(bulk.status, 201);
    assert.deepEqual(bulk.body, { tags: [{ name: 'a' }, { name: 'b' }] });
    const appended = await app.http.post(`${NS}/ns/tags`).set(ADMIN).set('X-OpenStack-Append', 'True').send({ tags: [{ name: 'c' }] });
    assert.deepEqual(appended.body, { tags: [{ name: 'c' }] });
    const names = async (query = '') => (await app.http.get(`${NS}/ns/tags${query}`).set(READER)).body.tags.map((t: { name: string }) => t.name);
    assert.deepEqual(await names('?sort_key=name&sort_dir=asc'), ['a', 'b', 'c']);
    assert.deepEqual(await names('?sort_key=name&sort_dir=asc&limit=1&marker=a'), ['b']);
    const twice = await app.http.post(`${NS}/ns/tags`).set(ADMIN).send({ tags: [{ name: 'd' }, { name: 'd' }] });
    assert.equal(twice.status, 409);
    assert.equal(message(twice), 'A metadata tag with name=d already exists in namespace=ns. (Please note that metadata tag names are case insensitive).');
    assert.deepEqual(await names('?sort_key=name&sort_dir=asc'), ['a', 'b', 'c']);
    assert.equal((await app.http.post(`${NS}/ns/tags/a`).set(ADMIN)).status, 409);
    assert.equal((await app.http.put(`${NS}/ns/tags/a`).set(ADMIN).send({ name: 'b' })).status, 409);
    const renamed = await app.http.put(`${NS}/ns/tags/a`).set(ADMIN).send({ name: 'z' });
    assert.equal(renamed.status, 200);
    assert.deepEqual(Object.keys(renamed.body), ['name', 'created_at', 'updated_at']);
    assert.equal(message(await app.http.get(`${NS}/ns/tags/a`).set(ADMIN)), 'Could not find metadata tag a');
    assert.equal((await app.http.post(`${NS}/ns/tags`).set(ADMIN).send({ tags: [{}] })).status, 400);
    assert.equal((await app.http.post(`${NS}/ns/tags`).set(ADMIN).send({ tags: [null] })).status, 400);
    const extra = await app.http.post(`${NS}/ns/tags`).set(ADMIN).send({ tag: [] });
    assert.equal(extra.status, 400);
    assert.match(message(extra), /Additional properties are not allowed \('tag' was unexpected\)/);
    // no tags at all: nothing changes (Glance 25.1 answers 500 here; glint an empty list)
    assert.deepEqual((await app.http.post(`${NS}/ns/tags`).set(ADMIN).send({})).body, { tags: [] });
    assert.deepEqual(await names('?sort_key=name&sort_dir=asc'), ['b', 'c', 'z']);
    assert.equal((await app.http.post(`${NS}/ns/tags/${'t'.repeat(81)}`).set(ADMIN)).status, 400);
    assert.equal((await app.http.delete(`${NS}/ns/tags/z`).set(ADMIN)).status, 204);
    assert.equal((await app.http.delete(`${NS}/ns/tags`).set(ADMIN)).status, 204);
    assert.deepEqual(await names(), []);
  });

  it('resource types: an association creates an unknown type; 409 twice; delete → 404 afterwards; protected namespace → 403', async function () {
    const made = await app.http.post(`${NS}/ns/resource_types`).set(ADMIN).send({ name: 'OS::Nova::Flavor', prefix: 'hw:', properties_target: 'image' });
    assert.equal(made.status, 201);
    assert.deepEqual(Object.keys(made.body), ['name', 'prefix', 'properties_target', 'created_at', 'updated_at']);
    const again = await app.http.post(`${NS}/ns/resource_types`).set(ADMIN).send({ name: 'OS::Nova::Flavor' });
    assert.equal(again.status, 409);
    assert.equal(message(again), 'The metadata definition resource-type association of resource-type=OS::Nova::Flavor to namespace=ns already exists.');
    assert.deepEqual((await app.http.get('/v2/metadefs/resource_types').set(READER)).body.resource_types.map((t: { name: string }) => t.name), ['OS::Nova::Flavor']);
    assert.deepEqual((await app.http.get(`${NS}/ns/resource_types`).set(READER)).body.resource_type_associations.map((t: { name: string }) => t.name), ['OS::Nova::Flavor']);
    assert.equal((await app.http.put(`${NS}/ns`).set(ADMIN).send({ namespace: 'ns', visibility: 'public', protected: true })).status, 200);
    const protectedDelete = await app.http.delete(`${NS}/ns/resource_types/OS::Nova::Flavor`).set(ADMIN);
    assert.equal(protectedDelete.status, 403);
    assert.equal(message(protectedDelete), 'Metadata definition resource-type-association OS::Nova::Flavor is protected and cannot be deleted.');
    assert.equal((await app.http.put(`${NS}/ns`).set(ADMIN).send({ namespace: 'ns', visibility: 'public' })).status, 200);
    assert.equal((await app.http.delete(`${NS}/ns/resource_types/OS::Nova::Flavor`).set(ADMIN)).status, 204);
    const gone = await app.http.delete(`${NS}/ns/resource_types/OS::Nova::Flavor`).set(ADMIN);
    assert.equal(gone.status, 404);
    assert.equal(message(gone), 'Failed to find resource type OS::Nova::Flavor to delete');
    // the type itself stays
    assert.equal((await app.http.get('/v2/metadefs/resource_types').set(ADMIN)).body.resource_types.length, 1);
  });

  it('Tempest\'s metadefs calls, in its order (namespaces, objects, properties, tags, resource types)', async function () {
    await app.http.post(`${NS}/ns/resource_types`).set(ADMIN).send({ name: 'OS::Glance::Image' });
    const resourceName = (await app.http.get('/v2/metadefs/resource_types').set(ADMIN)).body.resource_types[0].name as string;
    // test_basic_metadata_definition_namespaces
    const created = await app.http.post(NS).set(ADMIN).send({ namespace: 'tempest-ns', visibility: 'public', description: 'Tempest', display_name: 'tempest-ns', resource_type_associations: [{ name: resourceName }], protected: true });
    assert.equal(created.status, 201);
    assert.ok((await app.http.get(NS).set(ADMIN)).body.namespaces.some((n: { namespace: string }) => n.namespace === 'tempest-ns'));
    assert.equal((await app.http.get(`${NS}/tempest-ns`).set(ADMIN)).body.visibility, 'public');
    assert.equal((await app.http.delete(`${NS}/tempest-ns`).set(ADMIN)).status, 403);
    const updated = await app.http.put(`${NS}/tempest-ns`).set(ADMIN).send({ namespace: 'tempest-ns', description: 'Tempest', visibility: 'private', display_name: 'tempest-ns', protected: false });
    assert.deepEqual([updated.status, updated.body.visibility, updated.body.protected], [200, 'private', false]);
    assert.equal((await app.http.delete(`${NS}/tempest-ns`).set(ADMIN)).status, 204);
    assert.equal((await app.http.get(`${NS}/tempest-ns`).set(ADMIN)).status, 404);
    // test_basic_meta_def_namespace_property: a property named after the resource type, with an enum
    const enumValues = ['xen', 'qemu', 'kvm', 'lxc', 'uml', 'vmware', 'hyperv'];
    const property = await app.http.post(`${NS}/ns/properties`).set(ADMIN).send({ title: 'property-1', name: resourceName, type: 'string', enum: enumValues });
    assert.deepEqual([property.status, property.body.title], [201, 'property-1']);
    assert.equal((await app.http.get(`${NS}/ns/properties/${resourceName}`).set(ADMIN)).body.name, resourceName);
    const changed = await app.http.put(`${NS}/ns/properties/${resourceName}`).set(ADMIN).send({ title: 'update-property', type: 'string', enum: enumValues, name: resourceName });
    assert.equal(changed.body.title, 'update-property');
    assert.equal((await app.http.delete(`${NS}/ns/properties/${resourceName}`).set(ADMIN)).status, 204);
    // test_create_update_delete_tag: a single tag is a POST with no body
    const tag = await app.http.post(`${NS}/ns/tags/tag_name-1`).set(ADMIN);
    assert.equal(tag.status, 201);
    assert.equal((await app.http.put(`${NS}/ns/tags/tag_name-1`).set(ADMIN).send({ name: 'update-tag' })).body.name, 'update-tag');
    assert.equal((await app.http.delete(`${NS}/ns/tags/update-tag`).set(ADMIN)).status, 204);
  });
});

describe('Glance v2: metadefs under fuzzed bodies', function () {
  this.timeout(120_000);
  let app: TestApp;
  before(async function () {
    app = await startTestApp(TRUSTED);
    assert.equal((await app.http.post(NS).set(ADMIN).send({ namespace: 'ns', objects: [{ name: 'o' }], tags: [{ name: 't' }], properties: { p: { title: 'P', type: 'string' } } })).status, 201);
  });
  after(async function () {
    await app.close();
  });

  it('400 seeded random bodies on every metadefs write: a 2xx or a 4xx each time, never a 5xx', async function () {
    const keys = ['namespace', 'name', 'title', 'type', 'tags', 'objects', 'properties', 'resource_type_associations', 'required', 'enum', 'default', 'minimum', 'items', 'prefix', 'visibility', 'protected', 'owner', 'description', 'operators'];
    const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.jsonValue({ maxDepth: 1 }),
        fc.string({ maxLength: 100 }),
        fc.constantFrom('string', 'integer', 'array', 'object', 'public', 'private', 'x'.repeat(90)),
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 90 })), tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    const body = fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 6 });
    const targets = [
      ['post', NS], ['put', `${NS}/ns`], ['post', `${NS}/ns/objects`], ['put', `${NS}/ns/objects/o`], ['post', `${NS}/ns/properties`],
      ['put', `${NS}/ns/properties/p`], ['post', `${NS}/ns/tags`], ['put', `${NS}/ns/tags/t`], ['post', `${NS}/ns/resource_types`],
    ] as const;
    const statuses: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...targets), body, async ([method, path], sent) => {
        const res = await app.http[method](path).set(ADMIN).send(sent as object);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        return res.status < 500;
      }),
      { numRuns: 400, seed: 20261205 },
    );
    assert.ok(Object.keys(statuses).some((s) => s.startsWith('2')), JSON.stringify(statuses));
  });
});
