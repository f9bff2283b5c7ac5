import assert from 'node:assert/strict';
import Ajv from 'ajv';
import { as, startTestApp, TRUSTED, type TestApp } from '../../support/app';
import { activeImage, createImage, patchImage, stage } from './support/harness';

describe('Glance v2: schemas and info', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp(TRUSTED);
  });
  after(async function () {
    await app.close();
  });

  const A = as('projA');

  it('#58 GET /v2/schemas/image: name image, additionalProperties string, format enums with null, operator extras with is_base false', async function () {
    const res = await app.http.get('/v2/schemas/image').set(A);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    const schema = res.body;
    assert.equal(schema.name, 'image');
    assert.deepEqual(schema.additionalProperties, { type: 'string' });
    assert.deepEqual(schema.properties.disk_format.enum, [null, 'ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop']);
    assert.deepEqual(schema.properties.container_format.enum, [null, 'ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed']);
    for (const extra of ['kernel_id', 'ramdisk_id', 'instance_uuid', 'architecture', 'os_distro', 'os_version', 'description', 'cinder_encryption_key_id', 'cinder_encryption_key_deletion_policy']) {
      assert.equal(schema.properties[extra]?.is_base, false, extra);
    }
    for (const base of ['id', 'name', 'status', 'visibility', 'tags', 'checksum', 'size', 'min_ram']) {
      assert.equal(schema.properties[base].is_base, undefined, base);
    }
    assert.equal(schema.properties.checksum.maxLength, 32);
    assert.ok(schema.properties.status.enum.includes('uploading'));
    assert.deepEqual(
      schema.links.map((l: { rel: string }) => l.rel),
      ['self', 'enclosure', 'describedby'],
    );
  });

  it('#58 the image schema follows [image_format] configuration', async function () {
    const custom = await startTestApp('[image_format]\ndisk_formats = raw,qcow2\ncontainer_formats = bare\n');
    try {
      const schema = (await custom.http.get('/v2/schemas/image')).body;
      assert.deepEqual(schema.properties.disk_format.enum, [null, 'raw', 'qcow2']);
      assert.deepEqual(schema.properties.container_format.enum, [null, 'bare']);
      assert.equal((await custom.http.post('/v2/images').send({ disk_format: 'vmdk' })).status, 400);
    } finally {
      await custom.close();
    }
  });

  it('#58 every image document the server returns validates against the served image schema', async function () {
    const schema = (await app.http.get('/v2/schemas/image').set(A)).body;
    const ajv = new Ajv({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    const documents: Array<[string, unknown]> = [];
    const keep = (label: string, doc: unknown) => documents.push([label, doc]);

    const created = await app.http.post('/v2/images').set(A).send({});
    keep('create {}', created.body);
    const full = await app.http
      .post('/v2/images')
      .set(A)
      .send({ name: 'full', disk_format: 'qcow2', container_format: 'bare', tags: ['x'], os_distro: 'ubuntu', kernel_id: '0b6f3b5e-2d4c-4c55-9d7e-1a2b3c4d5e6f', min_ram: 1, protected: false, visibility: 'community' });
    keep('create full', full.body);
    keep('patch', (await patchImage(app, full.body.id, [{ op: 'add', path: '/custom', value: 'v' }], A)).body);
    const active = await activeImage(app, Buffer.from('0123456789'), { visibility: 'shared' }, A);
    keep('active', active);
    await app.http.post(`/v2/images/${active.id as string}/actions/deactivate`).set(A);
    keep('deactivated', (await app.http.get(`/v2/images/${active.id as string}`).set(A)).body);
    const staged = await createImage(app, { disk_format: 'raw', container_format: 'bare' }, A);
    await stage(app, staged.id as string, Buffer.from('abc'), A);
    keep('uploading', (await app.http.get(`/v2/images/${staged.id as string}`).set(A)).body);
    const list = await app.http.get('/v2/images?visibility=all').set(A);
    for (const image of list.body.images) keep(`list ${image.id as string}`, image);

    assert.ok(documents.length >= 8);
    for (const [label, doc] of documents) {
      assert.ok(validate(doc), `${label}: ${ajv.errorsText(validate.errors)}`);
    }
  });

  it('#58 the validator is strict enough to catch a bad document (guards the test above)', async function () {
    const schema = (await app.http.get('/v2/schemas/image').set(A)).body;
    const validate = new Ajv({ strict: false }).compile(schema);
    const doc = (await app.http.post('/v2/images').set(A).send({})).body as Record<string, unknown>;
    assert.ok(validate(doc));
    assert.ok(!validate({ ...doc, custom: 5 }), 'custom values must be strings');
    assert.ok(!validate({ ...doc, status: 'weird' }));
    assert.ok(!validate({ ...doc, checksum: 'x'.repeat(33) }));
    assert.ok(!validate({ ...doc, id: 'nope' }));
  });

  it('#59 /v2/schemas/images, /member, /members, /task, /tasks, /metadefs/namespace, /metadefs/resource_type → 200 JSON', async function () {
    const expectations: Record<string, (s: Record<string, unknown>) => void> = {
      images: (s) => {
        assert.equal(s.name, 'images');
        const props = s.properties as Record<string, { items?: { name?: string } }>;
        assert.equal(props.images.items?.name, 'image');
        assert.ok('first' in props && 'next' in props && 'schema' in props);
      },
      member: (s) => {
        assert.equal(s.name, 'member');
        assert.ok(!('additionalProperties' in s));
        const status = (s.properties as Record<string, { enum?: string[] }>).status;
        assert.deepEqual(status.enum, ['pending', 'accepted', 'rejected']);
      },
      members: (s) => assert.equal(s.name, 'members'),
      task: (s) => assert.equal(s.name, 'task'),
      tasks: (s) => assert.equal(s.name, 'tasks'),
      'metadefs/namespace': (s) => assert.ok(s.properties),
      'metadefs/resource_type': (s) => assert.ok(s.properties),
      'metadefs/namespaces': (s) => assert.ok(s.properties),
      'metadefs/resource_types': (s) => assert.ok(s.properties),
      'metadefs/property': (s) => assert.ok(s.properties),
      'metadefs/properties': (s) => assert.ok(s.properties),
      'metadefs/object': (s) => assert.ok(s.properties),
      'metadefs/objects': (s) => assert.ok(s.properties),
      'metadefs/tag': (s) => assert.ok(s.properties),
      'metadefs/tags': (s) => assert.ok(s.properties),
    };
    for (const [path, check] of Object.entries(expectations)) {
      const res = await app.http.get(`/v2/schemas/${path}`).set(A);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers['content-type'], 'application/json', path);
      check(res.body);
    }
    assert.equal((await app.http.get('/v2/schemas/nothing').set(A)).status, 404);
    assert.equal((await app.http.get('/v2/schemas/metadefs/nothing').set(A)).status, 404);
  });

  it('#59 schemas need no admin role (any authenticated caller)', async function () {
    assert.equal((await app.http.get('/v2/schemas/image').set(as('projR', 'reader'))).status, 200);
  });

  it('#60 GET /v2/info/import lists the enabled methods', async function () {
    const res = await app.http.get('/v2/info/import').set(A);
    assert.equal(res.status, 200);
    assert.equal(res.body['import-methods'].type, 'array');
    assert.equal(typeof res.body['import-methods'].description, 'string');
    assert.deepEqual(res.body['import-methods'].value, ['glance-direct', 'web-download', 'copy-image']);
    const one = await startTestApp('[DEFAULT]\nenabled_import_methods = copy-image\n');
    try {
      assert.deepEqual((await one.http.get('/v2/info/import')).body['import-methods'].value, ['copy-image']);
    } finally {
      await one.close();
    }
  });

  it('#60 GET /v2/info/stores and /detail → 404 when single-store; GET /v2/info/usage → {"usage": {}}', async function () {
    assert.equal((await app.http.get('/v2/info/stores').set(A)).status, 404);
    assert.equal((await app.http.get('/v2/info/stores/detail').set(as('x', 'admin'))).status, 404);
    const usage = await app.http.get('/v2/info/usage').set(A);
    assert.equal(usage.status, 200);
    assert.deepEqual(usage.body, { usage: {} });
  });

  it('#60 info endpoints are open to any authenticated caller', async function () {
    await createImage(app, {}, A);
    assert.equal((await app.http.get('/v2/info/import').set(as('projR', 'reader'))).status, 200);
  });
});
