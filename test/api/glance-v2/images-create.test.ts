import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { createImage, TIMESTAMP } from './support/harness';

const ALWAYS_PRESENT = [
  'checksum',
  'container_format',
  'created_at',
  'disk_format',
  'file',
  'id',
  'min_disk',
  'min_ram',
  'name',
  'os_hash_algo',
  'os_hash_value',
  'os_hidden',
  'owner',
  'protected',
  'schema',
  'self',
  'size',
  'status',
  'tags',
  'updated_at',
  'virtual_size',
  'visibility',
];

describe('Glance v2: POST /v2/images (create)', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp();
  });
  after(async function () {
    await app.close();
  });

  it('#8 POST {} → 201 queued, shared, not protected/hidden, min_* 0, no tags, nulls elsewhere', async function () {
    const res = await app.http.post('/v2/images').send({});
    assert.equal(res.status, 201);
    assert.equal(res.headers['content-type'], 'application/json');
    const image = res.body;
    assert.equal(image.status, 'queued');
    assert.equal(image.visibility, 'shared');
    assert.equal(image.protected, false);
    assert.equal(image.os_hidden, false);
    assert.equal(image.min_ram, 0);
    assert.equal(image.min_disk, 0);
    assert.deepEqual(image.tags, []);
    for (const key of ['name', 'container_format', 'disk_format', 'size', 'virtual_size', 'checksum', 'os_hash_algo', 'os_hash_value']) {
      assert.ok(key in image, key);
      assert.equal(image[key], null, key);
    }
  });

  it('#9 create answers an absolute Location ending /v2/images/{id} and OpenStack-image-import-methods', async function () {
    const res = await app.http.post('/v2/images').set('Host', 'glint.example:9292').send({ name: 'loc' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.location, `http://glint.example:9292/v2/images/${res.body.id as string}`);
    assert.equal(res.headers['openstack-image-import-methods'], 'glance-direct,web-download,copy-image');
    assert.equal(res.headers['openstack-image-store-ids'], undefined, 'single store: no store ids header');
  });

  it('#9 the import-methods header follows enabled_import_methods and is omitted when the list is empty', async function () {
    const some = await startTestApp('[DEFAULT]\nenabled_import_methods = glance-direct\n');
    const none = await startTestApp('[DEFAULT]\nenabled_import_methods =\n');
    try {
      assert.equal((await some.http.post('/v2/images').send({})).headers['openstack-image-import-methods'], 'glance-direct');
      const res = await none.http.post('/v2/images').send({});
      assert.equal(res.status, 201);
      assert.equal(res.headers['openstack-image-import-methods'], undefined);
    } finally {
      await some.close();
      await none.close();
    }
  });

  it('#10 a client-supplied UUID id is used; reusing it → 409, also after the image was deleted', async function () {
    const id = randomUUID();
    const res = await app.http.post('/v2/images').send({ id, name: 'mine' });
    assert.equal(res.status, 201);
    assert.equal(res.body.id, id);
    assert.equal((await app.http.get(`/v2/images/${id}`)).body.name, 'mine');
    assert.equal((await app.http.post('/v2/images').send({ id })).status, 409);
    assert.equal((await app.http.delete(`/v2/images/${id}`)).status, 204);
    assert.equal((await app.http.get(`/v2/images/${id}`)).status, 404);
    const again = await app.http.post('/v2/images').send({ id });
    assert.equal(again.status, 409, 'the id of a deleted image stays reserved');
  });

  it('#10 a non-UUID id → 400; an upper-case UUID is accepted and the image is found by it', async function () {
    for (const id of ['not-a-uuid', '12345', randomUUID().replace(/-/g, ''), 42]) {
      assert.equal((await app.http.post('/v2/images').send({ id })).status, 400, String(id));
    }
    const upper = randomUUID().toUpperCase();
    const res = await app.http.post('/v2/images').send({ id: upper, name: 'upper' });
    assert.equal(res.status, 201);
    assert.equal(res.body.id, upper, 'kept as given (Glance 25.1)');
    assert.equal((await app.http.get(`/v2/images/${upper}`)).body.name, 'upper', 'found by the id as supplied');
    assert.equal((await app.http.put(`/v2/images/${upper}/tags/t`)).status, 204);
    assert.equal((await app.http.get(`/v2/images?marker=${upper}`)).status, 200);
    assert.equal((await app.http.get(`/v2/images/${upper.toLowerCase()}`)).status, 404, 'ids are compared as given, as Glance on SQLite does');
  });

  it('generated ids are fresh UUIDs', async function () {
    const a = await createImage(app, {});
    const b = await createImage(app, {});
    assert.notEqual(a.id, b.id);
    assert.match(a.id as string, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('#11 correctly typed read-only attributes → 403: status, size, checksum, created_at, updated_at, virtual_size', async function () {
    const cases: Array<Record<string, unknown>> = [
      { status: 'active' },
      { size: 10 },
      { checksum: 'd41d8cd98f00b204e9800998ecf8427e' },
      { created_at: '2024-01-01T00:00:00Z' },
      { updated_at: '2024-01-01T00:00:00Z' },
      { virtual_size: 10 },
    ];
    for (const body of cases) {
      const res = await app.http.post('/v2/images').send({ name: 'ro', ...body });
      assert.equal(res.status, 403, JSON.stringify(body));
    }
    const listed = await app.http.get('/v2/images?name=ro');
    assert.deepEqual(listed.body.images, [], 'nothing was created');
  });

  it('#11 os_hash_algo / os_hash_value on create → 201 and ignored (§0.4)', async function () {
    const res = await app.http.post('/v2/images').send({ os_hash_algo: 'sha512', os_hash_value: 'abc' });
    assert.equal(res.status, 201);
    assert.equal(res.body.os_hash_algo, null);
    assert.equal(res.body.os_hash_value, null);
    const again = await app.http.get(`/v2/images/${res.body.id as string}`);
    assert.equal(again.body.os_hash_algo, null);
    assert.equal(again.body.os_hash_value, null);
  });

  it('#11 self/file/schema/direct_url/stores → 403, before any schema check (even with a wrong type)', async function () {
    for (const key of ['self', 'file', 'schema', 'direct_url', 'stores']) {
      assert.equal((await app.http.post('/v2/images').send({ [key]: 'x' })).status, 403, key);
      assert.equal((await app.http.post('/v2/images').send({ [key]: 5, min_ram: 'bad' })).status, 403, `${key} first`);
    }
  });

  it('#11 read-only attributes with the wrong type fail the schema first → 400', async function () {
    assert.equal((await app.http.post('/v2/images').send({ status: 5 })).status, 400);
    assert.equal((await app.http.post('/v2/images').send({ size: 'big' })).status, 400);
  });

  it('#12 custom keys os_glance_x, deleted, deleted_at, location and locations → 403', async function () {
    for (const key of ['os_glance_x', 'os_glance_import_task', 'deleted', 'deleted_at', 'location']) {
      assert.equal((await app.http.post('/v2/images').send({ [key]: 'v' })).status, 403, key);
    }
    assert.equal((await app.http.post('/v2/images').send({ locations: [] })).status, 403, 'locations');
  });

  it('#13 non-string custom value → 400; name of 256 chars → 400; bad disk_format → 400; min_ram -1 → 400', async function () {
    const cases: Array<Record<string, unknown>> = [
      { foo: 1 },
      { foo: true },
      { foo: null },
      { foo: ['a'] },
      { name: 'n'.repeat(256) },
      { disk_format: 'floppy' },
      { container_format: 'tarball' },
      { min_ram: -1 },
      { min_disk: -1 },
      { min_ram: 2147483648 },
      { min_ram: '5' },
      { min_disk: 1.5 },
      { visibility: 'everyone' },
      { protected: 'yes' },
      { os_hidden: 1 },
      { tags: 'a' },
      { tags: [1] },
      { tags: ['t'.repeat(256)] },
      { owner: 'o'.repeat(256) },
      { ['k'.repeat(256)]: 'v' },
      { kernel_id: 'not-a-uuid' },
      { cinder_encryption_key_deletion_policy: 'sometimes' },
      { name: 'smile 😀' },
      { 'emoji😀': 'v' },
      { tags: ['😀'] },
    ];
    for (const body of cases) {
      const res = await app.http.post('/v2/images').send(body);
      assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)} → ${res.status}`);
    }
  });

  it('#13 limits that are still valid: 255-char name, null formats, min_ram 2147483647, kernel_id UUID', async function () {
    const res = await app.http.post('/v2/images').send({
      name: 'n'.repeat(255),
      disk_format: null,
      container_format: null,
      min_ram: 2147483647,
      kernel_id: randomUUID(),
      cinder_encryption_key_deletion_policy: 'do_not_delete',
      description: 'café ünïcode',
    });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.min_ram, 2147483647);
    assert.ok(res.text.includes('café ünïcode'), 'image documents are written without ASCII escaping');
  });

  it('#15 more tags than image_tag_quota → 413; more custom properties than image_property_quota → 413', async function () {
    const limited = await startTestApp('[DEFAULT]\nimage_tag_quota = 2\nimage_property_quota = 2\n');
    try {
      assert.equal((await limited.http.post('/v2/images').send({ tags: ['a', 'b', 'c'] })).status, 413);
      assert.equal((await limited.http.post('/v2/images').send({ tags: ['a', 'b'] })).status, 201);
      assert.equal((await limited.http.post('/v2/images').send({ tags: ['a', 'b', 'b', 'a'] })).status, 201, 'duplicates collapse');
      assert.equal((await limited.http.post('/v2/images').send({ p1: 'x', p2: 'y', p3: 'z' })).status, 413);
      assert.equal((await limited.http.post('/v2/images').send({ p1: 'x', p2: 'y', name: 'base keys do not count' })).status, 201);
    } finally {
      await limited.close();
    }
  });

  it('negative quotas are unlimited', async function () {
    const unlimited = await startTestApp('[DEFAULT]\nimage_tag_quota = -1\n');
    try {
      const tags = Array.from({ length: 200 }, (_, i) => `t${i}`);
      const res = await unlimited.http.post('/v2/images').send({ tags });
      assert.equal(res.status, 201);
      assert.equal(res.body.tags.length, 200);
    } finally {
      await unlimited.close();
    }
  });

  it('#17 the image document has exactly the always-present keys plus custom keys; root-relative links; Z timestamps', async function () {
    const res = await app.http.post('/v2/images').send({ name: 'doc', os_distro: 'ubuntu', tags: ['b', 'a', 'b'] });
    const image = res.body as Record<string, unknown>;
    assert.deepEqual(Object.keys(image).sort(), [...ALWAYS_PRESENT, 'os_distro'].sort());
    assert.equal(image.os_distro, 'ubuntu');
    assert.deepEqual((image.tags as string[]).sort(), ['a', 'b']);
    assert.equal(image.self, `/v2/images/${image.id as string}`);
    assert.equal(image.file, `/v2/images/${image.id as string}/file`);
    assert.equal(image.schema, '/v2/schemas/image');
    assert.match(image.created_at as string, TIMESTAMP);
    assert.match(image.updated_at as string, TIMESTAMP);
    const fetched = await app.http.get(`/v2/images/${image.id as string}`);
    assert.deepEqual(Object.keys(fetched.body).sort(), Object.keys(image).sort());
  });

  describe('with identities (trusted-auth)', function () {
    let trusted: TestApp;
    before(async function () {
      trusted = await startTestApp(TRUSTED);
    });
    after(async function () {
      await trusted.close();
    });

    it('#14 non-admin create with visibility public → 403; community → 201; foreign owner → 403', async function () {
      assert.equal((await trusted.http.post('/v2/images').set(as('projA')).send({ visibility: 'public' })).status, 403);
      const community = await trusted.http.post('/v2/images').set(as('projA')).send({ visibility: 'community' });
      assert.equal(community.status, 201);
      assert.equal(community.body.visibility, 'community');
      assert.equal((await trusted.http.post('/v2/images').set(as('projA')).send({ owner: 'projB' })).status, 403);
      const own = await trusted.http.post('/v2/images').set(as('projA')).send({ owner: 'projA', visibility: 'private' });
      assert.equal(own.status, 201);
      assert.equal(own.body.owner, 'projA');
    });

    it('#14 an admin may create public images and images for another owner', async function () {
      const res = await trusted.http.post('/v2/images').set(as('projAdmin', 'admin')).send({ owner: 'projB', visibility: 'public' });
      assert.equal(res.status, 201);
      assert.equal(res.body.owner, 'projB');
      assert.equal(res.body.visibility, 'public');
    });

    it('#16 owner defaults to the caller project', async function () {
      const res = await trusted.http.post('/v2/images').set(as('projZ')).send({});
      assert.equal(res.body.owner, 'projZ');
    });
  });
});
