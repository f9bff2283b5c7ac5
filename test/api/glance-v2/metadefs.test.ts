import assert from 'node:assert/strict';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { createTestDatabase, type TestDatabase } from '../../support/mysql';

/** /v2/metadefs namespaces and the metadefs schemas, as Glance 25.1 answers them (checked against the Debian glance-api). */

const ADMIN = { ...as('p1', 'admin'), Accept: 'application/json' };
const MEMBER = { ...as('p2', 'member'), Accept: 'application/json' };
const OTHER_ADMIN = { ...as('p3', 'admin'), Accept: 'application/json' };
const NS = '/v2/metadefs/namespaces';

const message = (res: { body: { message?: string } }) => String(res.body.message).split('<br')[0];

describe('Glance v2: metadefs namespaces', function () {
  let app: TestApp;
  beforeEach(async function () {
    app = await startTestApp(`${TRUSTED}[DEFAULT]\nlimit_param_default = 2\n`);
  });
  afterEach(async function () {
    await app.close();
  });

  const create = (body: Record<string, unknown>, headers = ADMIN) => app.http.post(NS).set(headers).send(body);

  it('create → 201 with Location, Glance defaults (private, unprotected, owner = project) and the contents echoed', async function () {
    const res = await create({
      namespace: 'OS::Test',
      display_name: 'Test',
      resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'hw_' }],
      properties: { cpus: { title: 'CPUs', type: 'integer', minimum: 1, ignored: 'x' } },
      objects: [{ name: 'obj', properties: { a: { title: 'A', type: 'string' } } }],
      tags: [{ name: 't1' }],
    });
    assert.equal(res.status, 201);
    assert.match(String(res.headers.location), /\/v2\/metadefs\/namespaces\/OS::Test$/);
    assert.deepEqual(Object.keys(res.body), [
      'namespace', 'display_name', 'visibility', 'protected', 'owner', 'created_at', 'updated_at',
      'resource_type_associations', 'properties', 'objects', 'tags', 'self', 'schema',
    ]);
    assert.deepEqual([res.body.visibility, res.body.protected, res.body.owner], ['private', false, 'p1']);
    assert.match(res.body.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(res.body.properties, { cpus: { type: 'integer', title: 'CPUs', minimum: 1 } });
    assert.deepEqual(res.body.resource_type_associations, [{ name: 'OS::Glance::Image', prefix: 'hw_' }]);
    assert.equal(res.body.self, '/v2/metadefs/namespaces/OS::Test');
    assert.equal(res.body.schema, '/v2/schemas/metadefs/namespace');

    const shown = await app.http.get(`${NS}/OS::Test`).set(ADMIN);
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body.tags, [{ name: 't1' }]);
    assert.deepEqual(shown.body.objects[0].properties, { a: { type: 'string', title: 'A' } });
    assert.deepEqual(shown.body.objects[0].required, []);
    // ?resource_type= shows the names with that association's prefix
    const prefixed = await app.http.get(`${NS}/OS::Test?resource_type=OS::Glance::Image`).set(ADMIN);
    assert.deepEqual(Object.keys(prefixed.body.properties), ['hw_cpus']);
    assert.deepEqual(Object.keys(prefixed.body.objects[0].properties), ['hw_a']);
  });

  it('bad bodies: 400 naming the schema rule, 403 for a read-only attribute, 409 for a duplicate; nothing half-made', async function () {
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ namespace: 'x', bogus: 1 }, 400, /^Provided object does not match schema 'namespace': Additional properties are not allowed \('bogus' was unexpected\)/],
      [{ namespace: 'x', visibility: 'shared' }, 400, /'shared' is not one of \['public', 'private'\]/],
      [{ display_name: 'x' }, 400, /'namespace' is a required property/],
      [{ namespace: 'n'.repeat(81) }, 400, /is too long/],
      [{ namespace: 'x', protected: 'yes' }, 400, /'yes' is not of type 'boolean'/],
      [{ namespace: 'x', properties: { p: { type: 'string' } } }, 400, /'title' is a required property/],
      [{ namespace: 'x', self: '/v2/x' }, 403, /^Attribute 'self' is read-only\.$/],
    ];
    for (const [body, status, pattern] of cases) {
      const res = await create(body);
      assert.equal(res.status, status, JSON.stringify(body));
      assert.match(message(res), pattern);
    }
    assert.equal((await create({ namespace: 'dup' })).status, 201);
    const again = await create({ namespace: 'dup' });
    assert.equal(again.status, 409);
    assert.equal(message(again), 'The metadata definition namespace=dup already exists.');
    // a duplicate tag inside the request: 409 and no namespace left behind
    const half = await create({ namespace: 'half', tags: [{ name: 'a' }, { name: 'a' }] });
    assert.equal(half.status, 409);
    assert.equal((await app.http.get(`${NS}/half`).set(ADMIN)).status, 404);
    assert.equal((await app.http.post(NS).set(ADMIN).type('application/json').send('{"namespace":')).status, 400);
  });

  it('writes need the admin role (403 naming the policy); readers see public namespaces and their own project\'s', async function () {
    assert.equal((await create({ namespace: 'pub', visibility: 'public' })).status, 201);
    assert.equal((await create({ namespace: 'mine', owner: 'p2' })).status, 201);
    assert.equal((await create({ namespace: 'hidden' })).status, 201);
    const refused = await create({ namespace: 'nope' }, MEMBER);
    assert.equal(refused.status, 403);
    assert.equal(message(refused), 'You are not authorized to complete add_metadef_namespace action.');

    const listed = await app.http.get(`${NS}?limit=10`).set(MEMBER);
    assert.deepEqual(listed.body.namespaces.map((n: { namespace: string }) => n.namespace).sort(), ['mine', 'pub']);
    assert.equal((await app.http.get(`${NS}/hidden`).set(MEMBER)).status, 404);
    assert.equal(message(await app.http.get(`${NS}/hidden`).set(MEMBER)), 'The resource could not be found.');
    assert.equal(message(await app.http.get(`${NS}/absent`).set(MEMBER)), 'Metadata definition namespace=absent was not found.');
    // a visible namespace: 403 for a write; an invisible one stays 404
    const deleteRefused = await app.http.delete(`${NS}/pub`).set(MEMBER);
    assert.equal(deleteRefused.status, 403);
    assert.equal(message(deleteRefused), 'You are not authorized to complete delete_metadef_namespace action.');
    assert.equal((await app.http.delete(`${NS}/hidden`).set(MEMBER)).status, 404);
    assert.equal((await app.http.post(`${NS}/pub/tags/x`).set(MEMBER)).status, 403);
    // an admin of another project sees every namespace
    assert.equal((await app.http.get(`${NS}?limit=10`).set(OTHER_ADMIN)).body.namespaces.length, 3);
  });

  it('PUT replaces the fields (omitted ones back to their defaults), renames, and refuses a rename onto another', async function () {
    await create({ namespace: 'a', visibility: 'public', protected: true, description: 'd', display_name: 'A' });
    await create({ namespace: 'b' });
    const res = await app.http.put(`${NS}/a`).set(ADMIN).send({ namespace: 'a2', description: 'new' });
    assert.equal(res.status, 200);
    assert.deepEqual([res.body.namespace, res.body.description, res.body.display_name, res.body.visibility, res.body.protected], ['a2', 'new', undefined, 'private', false]);
    assert.equal(res.body.self, '/v2/metadefs/namespaces/a2');
    assert.equal((await app.http.get(`${NS}/a`).set(ADMIN)).status, 404);
    const clash = await app.http.put(`${NS}/a2`).set(ADMIN).send({ namespace: 'b' });
    assert.equal(clash.status, 409);
    assert.match(message(clash), /^Invalid update\. It would result in a duplicate metadata definition namespace with the same name of b$/);
    assert.equal(message(await app.http.put(`${NS}/zz`).set(ADMIN).send({ namespace: 'zz' })), 'Namespace zz not found');
  });

  it('protected: DELETE of the namespace and of its /objects, /properties, /tags → 403; unprotected, 204 and the contents go', async function () {
    await create({ namespace: 'p', protected: true, tags: [{ name: 't' }], objects: [{ name: 'o' }], properties: { x: { title: 'X', type: 'string' } } });
    for (const path of ['', '/objects', '/properties', '/tags']) {
      const res = await app.http.delete(`${NS}/p${path}`).set(ADMIN);
      assert.equal(res.status, 403, path);
      assert.equal(message(res), 'Metadata definition namespace p is protected and cannot be deleted.');
    }
    assert.equal((await app.http.put(`${NS}/p`).set(ADMIN).send({ namespace: 'p', protected: false })).status, 200);
    for (const [path, key] of [['/objects', 'objects'], ['/properties', 'properties'], ['/tags', 'tags']] as const) {
      assert.equal((await app.http.delete(`${NS}/p${path}`).set(ADMIN)).status, 204);
      assert.equal((await app.http.get(`${NS}/p`).set(ADMIN)).body[key], undefined, key);
    }
    assert.equal((await app.http.delete(`${NS}/p`).set(ADMIN)).status, 204);
    assert.equal((await app.http.get(`${NS}/p`).set(ADMIN)).status, 404);
    assert.equal(message(await app.http.delete(`${NS}/p`).set(ADMIN)), 'Namespace p not found');
  });

  it('list: limit (default limit_param_default), next/first links, marker, sort, visibility and resource_types filters, bad parameters → 400', async function () {
    for (const [name, visibility] of [['n1', 'public'], ['n2', 'private'], ['n3', 'public']]) {
      assert.equal((await create({ namespace: name, visibility, resource_type_associations: name === 'n2' ? [{ name: 'OS::Nova::Flavor' }] : [] })).status, 201);
    }
    const first = await app.http.get(`${NS}?sort_key=namespace&sort_dir=asc`).set(ADMIN);
    assert.deepEqual(first.body.namespaces.map((n: { namespace: string }) => n.namespace), ['n1', 'n2']);
    assert.equal(first.body.next, '/v2/metadefs/namespaces?sort_key=namespace&sort_dir=asc&marker=n2');
    assert.equal(first.body.first, '/v2/metadefs/namespaces?sort_key=namespace&sort_dir=asc');
    assert.equal(first.body.schema, '/v2/schemas/metadefs/namespaces');
    const second = await app.http.get(first.body.next).set(ADMIN);
    assert.deepEqual(second.body.namespaces.map((n: { namespace: string }) => n.namespace), ['n3']);
    assert.equal(second.body.next, undefined);
    const privates = await app.http.get(`${NS}?visibility=private`).set(ADMIN);
    assert.deepEqual(privates.body.namespaces.map((n: { namespace: string }) => n.namespace), ['n2']);
    const flavors = await app.http.get(`${NS}?resource_types=OS::Nova::Flavor,OS::Other`).set(ADMIN);
    assert.deepEqual(flavors.body.namespaces.map((n: { namespace: string; resource_type_associations: unknown[] }) => [n.namespace, n.resource_type_associations.length]), [['n2', 1]]);
    for (const [query, pattern] of [
      ['limit=x', /^limit param must be an integer$/],
      ['limit=-1', /^limit param must be positive$/],
      ['sort_dir=up', /^Invalid sort direction: up$/],
      ['visibility=shared', /^Invalid visibility value: shared$/],
      ['sort_key=owner', /^Invalid sort key: owner/],
    ] as const) {
      const res = await app.http.get(`${NS}?${query}`).set(ADMIN);
      assert.equal(res.status, 400, query);
      assert.match(message(res), pattern);
    }
    assert.equal((await app.http.get(`${NS}?marker=absent`).set(ADMIN)).status, 404);
  });
});

describe('Glance v2: metadefs schemas', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp();
  });
  after(async function () {
    await app.close();
  });

  it('the ten documents carry Glance 25.1\'s names, required lists and limits (what Tempest and clients read)', async function () {
    const expected: Record<string, [string, string[] | undefined]> = {
      namespace: ['namespace', ['namespace']],
      namespaces: ['namespaces', undefined],
      object: ['object', ['name']],
      objects: ['objects', undefined],
      property: ['property', ['type', 'title', 'name']],
      properties: ['properties', undefined],
      tag: ['tag', ['name']],
      tags: ['tags', undefined],
      resource_type: ['resource_type_association', ['name']],
      resource_types: ['resource_type_associations', undefined],
    };
    for (const [kind, [name, required]] of Object.entries(expected)) {
      const res = await app.http.get(`/v2/schemas/metadefs/${kind}`);
      assert.equal(res.status, 200, kind);
      assert.equal(res.body.name, name, kind);
      assert.deepEqual(res.body.required, required, kind);
    }
    const namespace = (await app.http.get('/v2/schemas/metadefs/namespace')).body;
    assert.equal(namespace.additionalProperties, false);
    assert.deepEqual(namespace.properties.visibility.enum, ['public', 'private']);
    assert.equal(namespace.properties.description.maxLength, 500);
    assert.deepEqual(Object.keys(namespace.definitions), ['positiveInteger', 'positiveIntegerDefault0', 'stringArray', 'property']);
    const tags = (await app.http.get('/v2/schemas/metadefs/tags')).body;
    assert.deepEqual(tags.links, [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ]);
    assert.equal((await app.http.get('/v2/schemas/metadefs/tag')).body.properties.name.maxLength, 80);
    assert.equal((await app.http.get('/v2/schemas/metadefs/nothing')).status, 404);
  });
});

describe('Glance v2: metadefs on MariaDB — odd bodies are 4xx, long texts fit, never a 500', function () {
  this.timeout(60_000);
  let database: TestDatabase;
  let app: TestApp;
  before(async function () {
    database = await createTestDatabase();
    app = await startTestApp(TRUSTED, { GLINT_DATABASE_CONNECTION: database.config.url });
  });
  after(async function () {
    await app?.close();
    await database?.drop();
  });

  it('names over their columns inside a namespace body → 400; a 200 KiB object description is kept', async function () {
    const long = 'n'.repeat(81);
    const bodies: Array<Record<string, unknown>> = [
      { namespace: 'x', objects: [{ name: long }] },
      { namespace: 'x', tags: [{ name: long }] },
      { namespace: 'x', resource_type_associations: [{ name: long }] },
      { namespace: 'x', resource_type_associations: [{ name: 'OS::Glance::Image', prefix: long }] },
      { namespace: 'x', properties: { [long]: { title: 'T', type: 'string' } } },
      { namespace: 'x', objects: [1] },
      { namespace: 'x', properties: 'p' },
      { namespace: 'x', owner: 'o'.repeat(256) },
    ];
    for (const body of bodies) {
      const res = await app.http.post(NS).set(ADMIN).send(body);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 120));
    }
    assert.equal((await app.http.get(`${NS}/x`).set(ADMIN)).status, 404);
    const description = 'd'.repeat(200 * 1024);
    assert.equal((await app.http.post(NS).set(ADMIN).send({ namespace: 'big' })).status, 201);
    const made = await app.http.post(`${NS}/big/objects`).set(ADMIN).send({ name: 'o', description });
    assert.equal(made.status, 201);
    assert.equal((await app.http.get(`${NS}/big/objects/o`).set(ADMIN)).body.description.length, description.length);
  });
});

describe('Glance v2: metadefs under secure RBAC (Glance\'s default policies; checked against Glance 25.1 with enforce_new_defaults)', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp('[paste_deploy]\nflavor = trusted-auth\n');
    for (const [namespace, visibility, owner] of [['pub', 'public', 'p1'], ['p2-own', 'private', 'p2'], ['p1-own', 'private', 'p1']]) {
      assert.equal((await app.http.post(NS).set(ADMIN).send({ namespace, visibility, owner })).status, 201);
    }
  });
  after(async function () {
    await app.close();
  });

  it('a project reader reads public namespaces and its project\'s; writes are 403 where it sees, 404 where it does not', async function () {
    const reader = { ...as('p2', 'reader'), Accept: 'application/json' };
    const listed = await app.http.get(NS).set(reader);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.namespaces.map((n: { namespace: string }) => n.namespace).sort(), ['p2-own', 'pub']);
    assert.equal((await app.http.get(`${NS}/p2-own`).set(reader)).status, 200);
    assert.equal((await app.http.get(`${NS}/p1-own`).set(reader)).status, 404);
    const refused = await app.http.post(`${NS}/pub/tags/x`).set(reader);
    assert.equal(refused.status, 403);
    assert.equal(message(refused), 'You are not authorized to complete add_metadef_tag action.');
    assert.equal((await app.http.post(`${NS}/p1-own/tags/x`).set(reader)).status, 404);
    assert.equal((await app.http.post(NS).set(reader).send({ namespace: 'mine' })).status, 403);
    // no reader role at all (Keystone would imply it from member; trusted-auth sends roles as they are):
    // Glance hides even the list (404), since such a caller may get no namespace of its project
    const roleless = await app.http.get(NS).set({ ...as('p2', 'observer'), Accept: 'application/json' });
    assert.equal(roleless.status, 404);
    assert.equal(message(roleless), 'The resource could not be found.');
    // the admin writes
    assert.equal((await app.http.post(`${NS}/p1-own/tags/x`).set(ADMIN)).status, 201);
  });
});
