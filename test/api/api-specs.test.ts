import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { openApiChecker, type OpenApiChecker } from '../support/openapi';
import { as, startTestApp, type TestApp } from '../support/app';

/**
 * The OpenAPI documents of api-spec/: each is served at GET /api-spec/<file>; every route the
 * app answers (the server's and every surface's) is documented by one of them; and every
 * documented operation, sent once with fixtures for its path parameters, answers as its
 * document says (status documented, headers and JSON bodies matching their schemas).
 */

const SPEC_DIR = path.resolve(__dirname, '../../api-spec');
const FILES = readdirSync(SPEC_DIR).filter((name) => name.endsWith('.yaml')).sort();
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head'] as const;
const ADMIN = as('ops', 'admin');
const normalize = (template: string) => template.replace(/\{[^}]+\}/g, '{}');

interface Operation {
  file: string;
  method: (typeof METHODS)[number];
  template: string;
}

function documented(): Operation[] {
  const out: Operation[] = [];
  for (const file of FILES) {
    const doc = parse(readFileSync(path.join(SPEC_DIR, file), 'utf8'), { maxAliasCount: -1 }) as { paths?: Record<string, Record<string, unknown>> };
    for (const [template, item] of Object.entries(doc.paths ?? {})) for (const method of METHODS) if (item[method]) out.push({ file, method, template });
  }
  return out;
}

describe('api-spec/: served, complete, and every documented operation answers as documented', function () {
  this.timeout(60_000);
  let app: TestApp;
  const checkers = new Map<string, OpenApiChecker>(FILES.map((file) => [file, openApiChecker(path.join(SPEC_DIR, file))]));
  const fixtures: Record<string, string> = {};

  before(async () => {
    app = await startTestApp(
      [
        '[DEFAULT]',
        'enabled_backends = fast:file, cold:file',
        '[glance_store]',
        'default_backend = fast',
        '[fast]',
        'filesystem_store_datadir = {dir}/fast',
        '[cold]',
        'filesystem_store_datadir = {dir}/cold',
        '[paste_deploy]',
        'flavor = trusted-auth',
        '[import_filtering_opts]',
        'allowed_hosts = 127.0.0.1',
        'allowed_ports = 1',
        '',
      ].join('\n'),
    );
    const image = await app.http.post('/v2/images').set(ADMIN).send({ name: 'spec', disk_format: 'raw', container_format: 'bare', visibility: 'shared' });
    assert.equal(image.status, 201);
    fixtures.image_id = image.body.id as string;
    assert.equal((await app.http.put(`/v2/images/${fixtures.image_id}/file`).set(ADMIN).type('application/octet-stream').send(Buffer.from('spec data'))).status, 204);
    assert.equal((await app.http.post(`/v2/images/${fixtures.image_id}/members`).set(ADMIN).send({ member: 'beta' })).status, 200);
    const task = await app.http.post('/v2/tasks').set(ADMIN).send({ type: 'import', input: { import_from: 'http://127.0.0.1:1/x', import_from_format: 'raw', image_properties: {} } });
    assert.equal(task.status, 201);
    const namespace = await app.http.post('/v2/metadefs/namespaces').set(ADMIN).send({
      namespace: 'spec-ns',
      resource_type_associations: [{ name: 'OS::Glance::Image' }],
      properties: { 'spec-prop': { title: 'P', type: 'string' } },
      objects: [{ name: 'spec-obj' }],
      tags: [{ name: 'spec-tag' }],
    });
    assert.equal(namespace.status, 201);
    Object.assign(fixtures, { namespace: 'spec-ns', object_name: 'spec-obj', property_name: 'spec-prop', tag_name: 'spec-tag', resource_type: 'OS::Glance::Image' });
    // file-management.yaml: a Glance image that is no EdgeGallery file (its routes answer 404 / 200 delete success)
    fixtures.imageId = fixtures.image_id;
    Object.assign(fixtures, { member_id: 'beta', tag: 'spec-tag', store_id: 'cold', task_id: task.body.id as string, kind: 'namespace', document: 'glance-v2.yaml' });
  });
  after(() => app?.close());

  it('serves each document at GET /api-spec/<file>, as shipped; an unknown one is 404', async () => {
    assert.ok(FILES.includes('glance-v2.yaml') && FILES.includes('algoplatform.yaml') && FILES.includes('server.yaml'));
    for (const file of FILES) {
      const res = await app.http.get(`/api-spec/${file}`).buffer(true).parse((stream, callback) => {
        let text = '';
        stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
        stream.on('end', () => callback(null, text));
      });
      assert.equal(res.status, 200, file);
      assert.match(String(res.headers['content-type']), /^application\/yaml/);
      assert.equal(res.body, readFileSync(path.join(SPEC_DIR, file), 'utf8'));
    }
    const missing = await app.http.get('/api-spec/nope.yaml');
    assert.equal(missing.status, 404);
    assert.match(missing.text, /glance-v2\.yaml/);
  });

  it('every route the server and the surfaces answer is documented by some document', () => {
    const ops = documented();
    assert.ok(app.app.routes.length >= 40, `only ${app.app.routes.length} routes listed`);
    const undocumented = app.app.routes.filter(
      (route) => !ops.some((op) => op.method === route.method.toLowerCase() && normalize(op.template) === normalize(route.path)),
    );
    assert.deepEqual(undocumented, [], 'routes no api-spec/ document describes');
    for (const surface of ['server', 'glance-v2', 'algoplatform']) assert.ok(app.app.routes.some((r) => r.surface === surface), surface);
  });

  it('every documented operation answers as its document says', async () => {
    // deletions last, so the fixtures live until then
    const ops = documented().sort((a, b) => Number(a.method === 'delete') - Number(b.method === 'delete'));
    assert.ok(ops.length >= 45, `${ops.length} operations`);
    const failures: string[] = [];
    for (const op of ops) {
      const url = op.template.replace(/\{([^}]+)\}/g, (_m, name: string) => {
        const value = fixtures[name];
        if (value === undefined) throw new Error(`${op.file}: no fixture for path parameter {${name}} of ${op.template}`);
        return encodeURIComponent(value);
      });
      let req = app.http[op.method](url).set(ADMIN).set('Accept', 'application/json');
      if (op.method === 'patch') req = req.type('application/openstack-images-v2.1-json-patch').send('[]');
      else if (op.method === 'put' && /\/(file|stage)$/.test(op.template)) req = req.type('application/octet-stream').send(Buffer.from('x'));
      else if (op.method === 'post' || (op.method === 'put' && /members/.test(op.template))) req = req.type('application/json').send('{}');
      const res = await req.buffer(true).parse((stream, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => callback(null, Buffer.concat(chunks)));
      });
      const raw = res.body as Buffer;
      const type = String(res.headers['content-type'] ?? '');
      let body: unknown = raw.length === 0 ? undefined : raw;
      // JSON as text: the checker parses it (an error body may be a JSON string literal)
      if (raw.length > 0 && /json/.test(type)) body = raw.toString('utf8');
      else if (raw.length > 0 && /^(text\/|application\/yaml)/.test(type)) body = raw.toString('utf8');
      try {
        (checkers.get(op.file) as OpenApiChecker).assertMatchesSpec(op.method, url, res.status, res.headers as Record<string, string>, body);
        if (res.status >= 500) failures.push(`${op.method.toUpperCase()} ${url} → ${res.status}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    assert.deepEqual(failures, []);
  });
});
