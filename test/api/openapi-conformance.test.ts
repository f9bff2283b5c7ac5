import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import type { Response } from 'supertest';
import { as, startTestApp, type TestApp } from '../support/app';
import { assertMatchesSpec, compileAllSchemas, coveredResponses, documentedOperations, uncoveredOperations } from '../support/openapi';
import { exerciseMetadefs } from '../support/metadefs-scenario';
import { randomData } from '../support/random-data';

/**
 * Drives one scenario through every operation of api-spec/glance-v2.yaml and checks every
 * response glint gives against the document: status documented, required headers present,
 * header values and JSON bodies matching their schemas.
 */

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete' | 'head';
type Doc = Record<string, unknown>;

interface Sent {
  headers?: Record<string, string>;
  /** JSON body; sent as text with `type` (default application/json). */
  json?: unknown;
  type?: string;
  /** Raw body (uploads). */
  data?: Buffer;
  /** Accept header; null sends none. Default application/json. */
  accept?: string | null;
}

interface Got {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON, text for text/*, else the raw bytes. */
  body: unknown;
  raw: Buffer;
}

const OWNER = as('alpha');
const OTHER = as('beta');
const ADMIN = as('ops', 'admin');
const JSON_PATCH = 'application/openstack-images-v2.1-json-patch';
const OCTETS = 'application/octet-stream';

/** Each app's own GET /v2/schemas/image, which every image document it serves must satisfy (#58). */
const servedImageSchemas = new Map<TestApp, ValidateFunction>();

function checkAgainstServedSchema(app: TestApp, method: string, url: string, body: unknown): void {
  const validate = servedImageSchemas.get(app);
  if (!validate || body === null || typeof body !== 'object') return;
  const doc = body as Doc;
  const images = doc.schema === '/v2/schemas/image' ? [doc] : Array.isArray(doc.images) ? (doc.images as Doc[]) : [];
  for (const image of images) {
    assert.ok(validate(image), `${method.toUpperCase()} ${url}: image ${String(image.id)} does not satisfy the served image schema: ${JSON.stringify(validate.errors)}`);
  }
}

async function loadServedImageSchema(app: TestApp): Promise<void> {
  const res = await app.http.get('/v2/schemas/image').set(OWNER);
  assert.equal(res.status, 200);
  servedImageSchemas.set(app, new Ajv2020({ strict: false, allErrors: true }).compile(res.body as Doc));
}

/** One request; the response must match the spec before the caller sees it. */
async function call(app: TestApp, method: Method, url: string, sent: Sent = {}): Promise<Got> {
  let req = app.http[method](url);
  if (sent.accept !== null) req = req.set('Accept', sent.accept ?? 'application/json');
  req = req.set(sent.headers ?? {});
  if (sent.json !== undefined) req = req.type(sent.type ?? 'application/json').send(JSON.stringify(sent.json));
  else if (sent.data !== undefined) req = req.send(sent.data);
  const res: Response = await req.buffer(true).parse((stream, callback) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => callback(null, Buffer.concat(chunks)));
  });
  const raw = Buffer.isBuffer(res.body) ? res.body : Buffer.alloc(0);
  const type = String(res.headers['content-type'] ?? '');
  let body: unknown = raw.length === 0 ? undefined : raw;
  if (raw.length > 0 && type.startsWith('application/json')) body = JSON.parse(raw.toString('utf8'));
  else if (raw.length > 0 && type.startsWith('text/')) body = raw.toString('utf8');
  assertMatchesSpec(method, url, res.status, res.headers as Record<string, string>, body);
  if (res.status < 300) checkAgainstServedSchema(app, method, url, body);
  return { status: res.status, headers: res.headers as Record<string, string>, body, raw };
}

function expectStatus(got: Got, status: number): void {
  assert.equal(got.status, status, `expected ${status}, got ${got.status}: ${Buffer.isBuffer(got.body) ? '<bytes>' : JSON.stringify(got.body)}`);
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const sha512 = (data: Buffer) => createHash('sha512').update(data).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(app: TestApp, id: string, headers: Record<string, string>, done: (image: Doc) => boolean, timeoutMs = 20_000): Promise<Doc> {
  const deadline = Date.now() + timeoutMs;
  let last: Doc = {};
  while (Date.now() < deadline) {
    const got = await call(app, 'get', `/v2/images/${id}`, { headers });
    expectStatus(got, 200);
    last = got.body as Doc;
    if (done(last)) return last;
    await sleep(100);
  }
  assert.fail(`image ${id} did not reach the expected state; last: ${JSON.stringify(last)}`);
}

describe('OpenAPI conformance: every documented operation answers as api-spec/glance-v2.yaml says', function () {
  this.timeout(60_000);

  let app: TestApp;
  let multi: TestApp;
  let source: Server;
  let sourceUrl: string;
  const payload = randomData(64 * 1024 + 17);
  let shared: Doc;
  let active: Doc;

  before(async function () {
    // web-download and the tasks API need a source glint may fetch from: a local HTTP server.
    source = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': OCTETS, 'Content-Length': String(payload.length) });
      res.end(payload);
    });
    await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
    const port = (source.address() as AddressInfo).port;
    sourceUrl = `http://127.0.0.1:${port}/image.raw`;
    app = await startTestApp(
      [
        '[DEFAULT]',
        'image_tag_quota = 3',
        '[paste_deploy]',
        'flavor = trusted-auth',
        // the calls send one role (alpha: member) and expect the legacy owner/admin rules
        '[oslo_policy]',
        'enforce_new_defaults = false',
        '[import_filtering_opts]',
        'allowed_hosts = 127.0.0.1',
        `allowed_ports = ${port}`,
        '',
      ].join('\n'),
    );
    multi = await startTestApp(
      [
        '[DEFAULT]',
        'enabled_backends = fast:file, cold:file',
        '[glance_store]',
        'default_backend = fast',
        '[fast]',
        'description = Fast local disk',
        'filesystem_store_datadir = {dir}/fast',
        '[cold]',
        'filesystem_store_datadir = {dir}/cold',
        '[paste_deploy]',
        'flavor = trusted-auth',
        // the calls send one role (alpha: member) and expect the legacy owner/admin rules
        '[oslo_policy]',
        'enforce_new_defaults = false',
        '',
      ].join('\n'),
    );
    await loadServedImageSchema(app);
    await loadServedImageSchema(multi);
  });

  after(async function () {
    await app?.close();
    await multi?.close();
    await new Promise<void>((resolve) => (source ? source.close(() => resolve()) : resolve()));
  });

  it('the document loads and every response schema compiles', function () {
    assert.ok(compileAllSchemas() > 100);
    const operations = documentedOperations();
    assert.ok(operations.length >= 39, `only ${operations.length} operations documented`);
    for (const op of ['GET /v2/images', 'PATCH /v2/images/{image_id}', 'DELETE /v2/stores/{store_id}/{image_id}', 'GET /healthcheck', 'GET /']) {
      assert.ok(operations.includes(op), `${op} is not documented`);
    }
  });

  it('version documents and the healthcheck (no request id)', async function () {
    const root = await call(app, 'get', '/');
    expectStatus(root, 300);
    assert.equal(root.headers['x-openstack-request-id'], undefined);
    expectStatus(await call(app, 'get', '/versions'), 200);
    const health = await call(app, 'get', '/healthcheck', { accept: null });
    expectStatus(health, 200);
    assert.equal(health.body, 'OK');
    expectStatus(await call(app, 'head', '/healthcheck', { accept: null }), 204);
  });

  it('create: 201 with Location and OpenStack-image-import-methods; duplicate id 409; too many tags 413; read-only key 403', async function () {
    const id = randomUUID();
    const created = await call(app, 'post', '/v2/images', {
      headers: OWNER,
      json: { id, name: 'conformance', disk_format: 'raw', container_format: 'bare', visibility: 'shared', tags: ['a'], os_distro: 'debian' },
    });
    expectStatus(created, 201);
    shared = created.body as Doc;
    assert.ok(created.headers.location.endsWith(`/v2/images/${id}`));
    assert.equal(created.headers['openstack-image-import-methods'], 'glance-direct,web-download,copy-image');
    assert.equal(created.headers['openstack-image-store-ids'], undefined);

    expectStatus(await call(app, 'post', '/v2/images', { headers: OWNER, json: { id } }), 409);
    expectStatus(await call(app, 'post', '/v2/images', { headers: OWNER, json: { tags: ['1', '2', '3', '4'] } }), 413);
    expectStatus(await call(app, 'post', '/v2/images', { headers: OWNER, json: { status: 'active' } }), 403);
    expectStatus(await call(app, 'post', '/v2/images', { headers: OWNER, json: { min_ram: 'lots' } }), 400);
  });

  it('list: pages with a next link that can be followed, filters, bad limit 400', async function () {
    for (let i = 0; i < 3; i++) {
      expectStatus(await call(app, 'post', '/v2/images', { headers: OWNER, json: { name: `page-${i}` } }), 201);
    }
    const first = await call(app, 'get', '/v2/images?limit=2', { headers: OWNER });
    expectStatus(first, 200);
    const page = first.body as { images: Doc[]; next?: string };
    assert.equal(page.images.length, 2);
    assert.ok(page.next, 'a full page has a next link');
    const second = await call(app, 'get', page.next, { headers: OWNER });
    expectStatus(second, 200);
    expectStatus(await call(app, 'get', '/v2/images?os_distro=debian&tag=a&sort=name:asc', { headers: OWNER }), 200);
    expectStatus(await call(app, 'get', '/v2/images?limit=-1', { headers: OWNER }), 400);
  });

  it('show: 200 for the owner (no tasks yet), 404 for an invisible or unknown image, 400 with a body', async function () {
    expectStatus(await call(app, 'get', `/v2/images/${shared.id}`, { headers: OWNER }), 200);
    expectStatus(await call(app, 'get', `/v2/images/${shared.id}`, { headers: OTHER }), 404);
    expectStatus(await call(app, 'get', '/v2/images/not-an-id', { headers: OWNER }), 404);
    const noTasks = await call(app, 'get', `/v2/images/${shared.id}/tasks`, { headers: OWNER });
    expectStatus(noTasks, 200);
    assert.deepEqual(noTasks.body, { tasks: [] });
    expectStatus(await call(app, 'get', `/v2/images/${shared.id}`, { headers: { ...OWNER, 'Content-Type': OCTETS }, data: Buffer.from('x') }), 400);
  });

  it('patch: v2.1 and v2.0 forms → 200; wrong media type 415 with Accept-Patch; read-only 403; missing custom 409', async function () {
    const id = shared.id as string;
    const patched = await call(app, 'patch', `/v2/images/${id}`, {
      headers: OWNER,
      type: JSON_PATCH,
      json: [
        { op: 'replace', path: '/name', value: 'renamed' },
        { op: 'add', path: '/hw_disk_bus', value: 'virtio' },
      ],
    });
    expectStatus(patched, 200);
    assert.equal((patched.body as Doc).hw_disk_bus, 'virtio');
    const legacy = await call(app, 'patch', `/v2/images/${id}`, {
      headers: OWNER,
      type: 'application/openstack-images-v2.0-json-patch',
      json: [{ replace: '/min_ram', value: 512 }],
    });
    expectStatus(legacy, 200);
    const wrongType = await call(app, 'patch', `/v2/images/${id}`, { headers: OWNER, type: 'application/json', json: [] });
    expectStatus(wrongType, 415);
    assert.match(wrongType.headers['accept-patch'], /v2\.1-json-patch/);
    expectStatus(await call(app, 'patch', `/v2/images/${id}`, { headers: OWNER, type: JSON_PATCH, json: [{ op: 'replace', path: '/status', value: 'active' }] }), 403);
    expectStatus(await call(app, 'patch', `/v2/images/${id}`, { headers: OWNER, type: JSON_PATCH, json: [{ op: 'remove', path: '/nope' }] }), 409);
    expectStatus(await call(app, 'patch', `/v2/images/${id}`, { headers: OWNER, type: JSON_PATCH, json: [{ op: 'test', path: '/name', value: 'x' }] }), 400);
    expectStatus(await call(app, 'patch', `/v2/images/${randomUUID()}`, { headers: OWNER, type: JSON_PATCH, json: [] }), 404);
  });

  it('tags: add 204 (twice), over quota 413, remove 204, remove unknown 404, foreign 404', async function () {
    const id = shared.id as string;
    expectStatus(await call(app, 'put', `/v2/images/${id}/tags/b`, { headers: OWNER }), 204);
    expectStatus(await call(app, 'put', `/v2/images/${id}/tags/b`, { headers: OWNER }), 204);
    expectStatus(await call(app, 'put', `/v2/images/${id}/tags/c`, { headers: OWNER }), 204);
    expectStatus(await call(app, 'put', `/v2/images/${id}/tags/d`, { headers: OWNER }), 413);
    expectStatus(await call(app, 'delete', `/v2/images/${id}/tags/b`, { headers: OWNER }), 204);
    expectStatus(await call(app, 'delete', `/v2/images/${id}/tags/b`, { headers: OWNER }), 404);
    expectStatus(await call(app, 'put', `/v2/images/${id}/tags/x`, { headers: OTHER }), 404);
  });

  it('members: add 200, duplicate 409, list/show, the member accepts (the owner may not), only the owner removes', async function () {
    const id = shared.id as string;
    const added = await call(app, 'post', `/v2/images/${id}/members`, { headers: OWNER, json: { member: 'beta' } });
    expectStatus(added, 200);
    assert.equal((added.body as Doc).status, 'pending');
    expectStatus(await call(app, 'post', `/v2/images/${id}/members`, { headers: OWNER, json: { member: 'beta' } }), 409);
    expectStatus(await call(app, 'post', `/v2/images/${id}/members`, { headers: OWNER, json: {} }), 400);
    expectStatus(await call(app, 'post', `/v2/images/${id}/members`, { headers: OWNER, json: { member: 'gamma' } }), 200);

    const ownerList = await call(app, 'get', `/v2/images/${id}/members`, { headers: OWNER });
    expectStatus(ownerList, 200);
    assert.equal((ownerList.body as { members: Doc[] }).members.length, 2);
    const memberList = await call(app, 'get', `/v2/images/${id}/members`, { headers: OTHER });
    expectStatus(memberList, 200);
    assert.equal((memberList.body as { members: Doc[] }).members.length, 1);

    expectStatus(await call(app, 'get', `/v2/images/${id}/members/beta`, { headers: OTHER }), 200);
    expectStatus(await call(app, 'get', `/v2/images/${id}/members/nobody`, { headers: OWNER }), 404);
    const accepted = await call(app, 'put', `/v2/images/${id}/members/beta`, { headers: OTHER, json: { status: 'accepted' } });
    expectStatus(accepted, 200);
    assert.equal((accepted.body as Doc).status, 'accepted');
    expectStatus(await call(app, 'put', `/v2/images/${id}/members/beta`, { headers: OWNER, json: { status: 'accepted' } }), 403);
    expectStatus(await call(app, 'put', `/v2/images/${id}/members/beta`, { headers: OTHER, json: { status: 'maybe' } }), 400);

    expectStatus(await call(app, 'delete', `/v2/images/${id}/members/beta`, { headers: OTHER }), 403);
    expectStatus(await call(app, 'delete', `/v2/images/${id}/members/gamma`, { headers: OWNER }), 204);

    const privateImage = await call(app, 'post', '/v2/images', { headers: OWNER, json: { visibility: 'private' } });
    expectStatus(privateImage, 201);
    const privateId = (privateImage.body as Doc).id as string;
    expectStatus(await call(app, 'post', `/v2/images/${privateId}/members`, { headers: OWNER, json: { member: 'beta' } }), 403);
    expectStatus(await call(app, 'get', `/v2/images/${privateId}/members`, { headers: OWNER }), 403);
  });

  it('upload: 415 without octet-stream, 204, then 409; the image is active with the right hashes', async function () {
    const id = shared.id as string;
    expectStatus(await call(app, 'put', `/v2/images/${id}/file`, { headers: { ...OWNER, 'Content-Type': 'text/plain' }, data: payload }), 415);
    expectStatus(await call(app, 'put', `/v2/images/${id}/file`, { headers: { ...OTHER, 'Content-Type': OCTETS }, data: payload }), 403);
    expectStatus(await call(app, 'put', `/v2/images/${id}/file`, { headers: { ...OWNER, 'Content-Type': OCTETS }, data: payload }), 204);
    expectStatus(await call(app, 'put', `/v2/images/${id}/file`, { headers: { ...OWNER, 'Content-Type': OCTETS }, data: payload }), 409);
    const shown = await call(app, 'get', `/v2/images/${id}`, { headers: OWNER });
    active = shown.body as Doc;
    assert.equal(active.status, 'active');
    assert.equal(active.size, payload.length);
    assert.equal(active.checksum, md5(payload));
    assert.equal(active.os_hash_value, sha512(payload));

    const formatless = await call(app, 'post', '/v2/images', { headers: OWNER, json: {} });
    const formatlessId = (formatless.body as Doc).id as string;
    expectStatus(await call(app, 'put', `/v2/images/${formatlessId}/file`, { headers: { ...OWNER, 'Content-Type': OCTETS }, data: payload }), 400);
  });

  it('download: 200 whole, 206 for a range with Content-Range and Content-MD5, 416, 400 for several ranges, 204 without data', async function () {
    const id = active.id as string;
    const whole = await call(app, 'get', `/v2/images/${id}/file`, { headers: OWNER });
    expectStatus(whole, 200);
    assert.ok(whole.raw.equals(payload));
    assert.equal(whole.headers['content-md5'], md5(payload));

    const part = await call(app, 'get', `/v2/images/${id}/file`, { headers: { ...OTHER, Range: 'bytes=2-5' } });
    expectStatus(part, 206);
    assert.equal(part.headers['content-range'], `bytes 2-5/${payload.length}`);
    assert.ok(part.raw.equals(payload.subarray(2, 6)));
    const legacy = await call(app, 'get', `/v2/images/${id}/file`, { headers: { ...OWNER, 'Content-Range': 'bytes 1-3/*' } });
    expectStatus(legacy, 206);

    const beyond = await call(app, 'get', `/v2/images/${id}/file`, { headers: { ...OWNER, Range: `bytes=${payload.length + 10}-` } });
    expectStatus(beyond, 416);
    assert.equal(beyond.headers['content-range'], undefined);
    expectStatus(await call(app, 'get', `/v2/images/${id}/file`, { headers: { ...OWNER, Range: 'bytes=0-1,3-4' } }), 400);

    const queued = await call(app, 'post', '/v2/images', { headers: OWNER, json: { disk_format: 'raw', container_format: 'bare' } });
    expectStatus(await call(app, 'get', `/v2/images/${(queued.body as Doc).id}/file`, { headers: OWNER }), 204);
    expectStatus(await call(app, 'get', `/v2/images/${randomUUID()}/file`, { headers: OWNER }), 404);
  });

  it('deactivate/reactivate: 204, downloads refused (403) while deactivated, queued image 403', async function () {
    const id = active.id as string;
    expectStatus(await call(app, 'post', `/v2/images/${id}/actions/deactivate`, { headers: OWNER }), 204);
    expectStatus(await call(app, 'get', `/v2/images/${id}/file`, { headers: OWNER }), 403);
    expectStatus(await call(app, 'post', `/v2/images/${id}/actions/reactivate`, { headers: OWNER }), 204);
    expectStatus(await call(app, 'post', `/v2/images/${id}/actions/deactivate`, { headers: OTHER }), 403);
    expectStatus(await call(app, 'post', `/v2/images/${id}/actions/reactivate`, { headers: OTHER }), 403);
    const queued = await call(app, 'post', '/v2/images', { headers: OWNER, json: {} });
    expectStatus(await call(app, 'post', `/v2/images/${(queued.body as Doc).id}/actions/deactivate`, { headers: OWNER }), 403);
    expectStatus(await call(app, 'post', `/v2/images/${randomUUID()}/actions/reactivate`, { headers: OWNER }), 404);
  });

  it('stage + glance-direct import: 204, 202, polled to active; the image tasks list the import', async function () {
    const created = await call(app, 'post', '/v2/images', { headers: OWNER, json: { name: 'staged', disk_format: 'raw', container_format: 'bare' } });
    const id = (created.body as Doc).id as string;
    expectStatus(await call(app, 'post', `/v2/images/${id}/import`, { headers: OWNER, json: { method: { name: 'glance-direct' } } }), 409);
    expectStatus(await call(app, 'put', `/v2/images/${id}/stage`, { headers: { ...OWNER, 'Content-Type': OCTETS }, data: payload }), 204);
    expectStatus(await call(app, 'put', `/v2/images/${id}/stage`, { headers: { ...OWNER, 'Content-Type': OCTETS }, data: payload }), 409);
    expectStatus(await call(app, 'put', `/v2/images/${randomUUID()}/stage`, { headers: { ...OWNER, 'Content-Type': OCTETS }, data: payload }), 404);
    expectStatus(await call(app, 'put', `/v2/images/${id}/stage`, { headers: { ...OWNER, 'Content-Type': 'text/plain' }, data: payload }), 415);
    expectStatus(await call(app, 'post', `/v2/images/${id}/import`, { headers: OWNER, json: { method: { name: 'teleport' } } }), 400);
    const started = await call(app, 'post', `/v2/images/${id}/import`, { headers: OWNER, json: { method: { name: 'glance-direct' } } });
    expectStatus(started, 202);
    const done = await waitFor(app, id, OWNER, (image) => image.status === 'active');
    assert.equal(done.checksum, md5(payload));
    assert.equal(done.os_glance_failed_import, '');

    const tasks = await call(app, 'get', `/v2/images/${id}/tasks`, { headers: OWNER });
    expectStatus(tasks, 200);
    assert.ok((tasks.body as { tasks: Doc[] }).tasks.length >= 1);
    expectStatus(await call(app, 'get', `/v2/images/${randomUUID()}/tasks`, { headers: OWNER }), 404);
  });

  it('web-download import from an allowed local URL: 202 and active; copy-image as non-admin 403', async function () {
    const created = await call(app, 'post', '/v2/images', { headers: OWNER, json: { name: 'fetched', disk_format: 'raw', container_format: 'bare' } });
    const id = (created.body as Doc).id as string;
    expectStatus(await call(app, 'post', `/v2/images/${id}/import`, { headers: OWNER, json: { method: { name: 'web-download', uri: 'http://example.com:8080/x' } } }), 400);
    expectStatus(await call(app, 'post', `/v2/images/${id}/import`, { headers: OWNER, json: { method: { name: 'web-download', uri: sourceUrl } } }), 202);
    const done = await waitFor(app, id, OWNER, (image) => image.status === 'active');
    assert.equal(done.os_hash_value, sha512(payload));
    expectStatus(await call(app, 'post', `/v2/images/${id}/import`, { headers: OWNER, json: { method: { name: 'copy-image' } } }), 403);
    expectStatus(await call(app, 'post', `/v2/images/${randomUUID()}/import`, { headers: OWNER, json: { method: { name: 'glance-direct' } } }), 404);
  });

  it('locations (2.17): add 202 → active, 409 once active, 403 without the service role, 400 bad body; list 200 / 403 / 404', async function () {
    const service = as('alpha', 'member,service');
    const created = await call(app, 'post', '/v2/images', { headers: OWNER, json: { name: 'by-location', disk_format: 'raw', container_format: 'bare' } });
    const id = (created.body as Doc).id as string;
    const { dataDir } = app.app.stores.default.details() as { dataDir: string };
    mkdirSync(path.join(dataDir, 'external'), { recursive: true });
    writeFileSync(path.join(dataDir, 'external', 'conformance.raw'), payload);
    const url = pathToFileURL(path.join(dataDir, 'external', 'conformance.raw')).href;
    expectStatus(await call(app, 'post', `/v2/images/${id}/locations`, { headers: service, json: {} }), 400);
    expectStatus(await call(app, 'post', `/v2/images/${id}/locations`, { headers: OWNER, json: { url } }), 403);
    expectStatus(await call(app, 'post', `/v2/images/${randomUUID()}/locations`, { headers: service, json: { url } }), 404);
    expectStatus(await call(app, 'post', `/v2/images/${id}/locations`, { headers: service, json: { url } }), 202);
    await waitFor(app, id, OWNER, (image) => image.status === 'active' && image.os_hash_value === sha512(payload));
    expectStatus(await call(app, 'post', `/v2/images/${id}/locations`, { headers: service, json: { url } }), 409);
    const listed = await call(app, 'get', `/v2/images/${id}/locations`, { headers: service });
    expectStatus(listed, 200);
    assert.deepEqual(listed.body, [{ url, metadata: {} }]);
    expectStatus(await call(app, 'get', `/v2/images/${id}/locations`, { headers: OWNER }), 403);
    expectStatus(await call(app, 'get', `/v2/images/${randomUUID()}/locations`, { headers: service }), 404);
  });

  it('tasks API: admin creates (201 + Location), lists, shows; DELETE is 405 for admins; non-admins get 403', async function () {
    const created = await call(app, 'post', '/v2/tasks', {
      headers: ADMIN,
      json: { type: 'import', input: { import_from: sourceUrl, import_from_format: 'raw', image_properties: { name: 'from-task' } } },
    });
    expectStatus(created, 201);
    const taskId = (created.body as Doc).id as string;
    expectStatus(await call(app, 'post', '/v2/tasks', { headers: ADMIN, json: { type: 'export', input: {} } }), 400);
    expectStatus(await call(app, 'post', '/v2/tasks', { headers: OWNER, json: { type: 'import', input: {} } }), 403);

    const listed = await call(app, 'get', '/v2/tasks?limit=1', { headers: ADMIN });
    expectStatus(listed, 200);
    const next = (listed.body as { next?: string }).next;
    if (next) expectStatus(await call(app, 'get', next, { headers: ADMIN }), 200);
    expectStatus(await call(app, 'get', '/v2/tasks?status=bogus', { headers: ADMIN }), 400);
    expectStatus(await call(app, 'get', '/v2/tasks', { headers: OWNER }), 403);

    expectStatus(await call(app, 'get', `/v2/tasks/${taskId}`, { headers: ADMIN }), 200);
    expectStatus(await call(app, 'get', `/v2/tasks/${taskId}`, { headers: OWNER }), 403);
    expectStatus(await call(app, 'get', `/v2/tasks/${randomUUID()}`, { headers: ADMIN }), 404);
    const refused = await call(app, 'delete', `/v2/tasks/${taskId}`, { headers: ADMIN });
    expectStatus(refused, 405);
    assert.equal(refused.headers.allow, 'GET');
    expectStatus(await call(app, 'delete', `/v2/tasks/${taskId}`, { headers: OWNER }), 403);

    // the task finishes; its document keeps matching the schema with a result and expires_at
    const deadline = Date.now() + 20_000;
    for (;;) {
      const shown = await call(app, 'get', `/v2/tasks/${taskId}`, { headers: ADMIN });
      const status = (shown.body as Doc).status;
      if (status === 'success' || status === 'failure') break;
      if (Date.now() > deadline) assert.fail(`task ${taskId} still ${String(status)}`);
      await sleep(100);
    }
  });

  it('schemas: every schema document, known and unknown metadefs kinds', async function () {
    for (const name of ['image', 'images', 'member', 'members', 'task', 'tasks', 'metadefs/namespace', 'metadefs/resource_type']) {
      expectStatus(await call(app, 'get', `/v2/schemas/${name}`, { headers: OWNER }), 200);
    }
    expectStatus(await call(app, 'get', '/v2/schemas/metadefs/bogus', { headers: OWNER }), 404);
    expectStatus(await call(app, 'get', '/v2/schemas/image', { headers: { ...OWNER, 'Content-Type': OCTETS }, data: Buffer.from('x') }), 400);
  });

  it('info: import methods, usage; stores 404 on a single-store site', async function () {
    const info = await call(app, 'get', '/v2/info/import', { headers: OWNER });
    expectStatus(info, 200);
    expectStatus(await call(app, 'get', '/v2/info/usage', { headers: OWNER }), 200);
    expectStatus(await call(app, 'get', '/v2/info/stores', { headers: OWNER }), 404);
    expectStatus(await call(app, 'get', '/v2/info/stores/detail', { headers: ADMIN }), 404);
    expectStatus(await call(app, 'delete', `/v2/stores/fast/${active.id}`, { headers: OWNER }), 404);
  });

  it('multi-store: store ids on create, upload to a named store, info/stores (+detail for admins), copy-image, delete from one store', async function () {
    const created = await call(multi, 'post', '/v2/images', { headers: OWNER, json: { name: 'multi', disk_format: 'raw', container_format: 'bare' } });
    expectStatus(created, 201);
    assert.equal(created.headers['openstack-image-store-ids'], 'fast,cold');
    const id = (created.body as Doc).id as string;
    expectStatus(await call(multi, 'put', `/v2/images/${id}/file`, { headers: { ...OWNER, 'Content-Type': OCTETS, 'X-Image-Meta-Store': 'nowhere' }, data: payload }), 400);
    expectStatus(await call(multi, 'put', `/v2/images/${id}/file`, { headers: { ...OWNER, 'Content-Type': OCTETS, 'X-Image-Meta-Store': 'cold' }, data: payload }), 204);
    const uploaded = await call(multi, 'get', `/v2/images/${id}`, { headers: OWNER });
    assert.equal((uploaded.body as Doc).stores, 'cold');

    const stores = await call(multi, 'get', '/v2/info/stores', { headers: OWNER });
    expectStatus(stores, 200);
    assert.deepEqual(stores.body, { stores: [{ id: 'fast', description: 'Fast local disk', default: 'true' }, { id: 'cold' }] });
    expectStatus(await call(multi, 'get', '/v2/info/stores/detail', { headers: OWNER }), 403);
    expectStatus(await call(multi, 'get', '/v2/info/stores/detail', { headers: ADMIN }), 200);

    expectStatus(await call(multi, 'delete', `/v2/stores/cold/${id}`, { headers: OWNER }), 403);
    expectStatus(await call(multi, 'delete', `/v2/stores/elsewhere/${id}`, { headers: OWNER }), 409);
    expectStatus(await call(multi, 'post', `/v2/images/${id}/import`, { headers: ADMIN, json: { method: { name: 'copy-image' }, stores: ['nowhere'] } }), 409);
    expectStatus(await call(multi, 'post', `/v2/images/${id}/import`, { headers: ADMIN, json: { method: { name: 'copy-image' }, stores: ['fast'] } }), 202);
    await waitFor(multi, id, OWNER, (image) => String(image.stores).split(',').length === 2 && !image.os_glance_import_task);
    expectStatus(await call(multi, 'delete', `/v2/stores/cold/${id}`, { headers: OWNER }), 204);
    const after = await call(multi, 'get', `/v2/images/${id}`, { headers: OWNER });
    assert.equal((after.body as Doc).stores, 'fast');
    // one location left (in fast): Glance answers 403 before it looks for the store
    expectStatus(await call(multi, 'delete', `/v2/stores/cold/${id}`, { headers: OWNER }), 403);
    const download = await call(multi, 'get', `/v2/images/${id}/file`, { headers: OWNER });
    assert.ok(download.raw.equals(payload));
  });

  it('errors: every flavour of body is a documented one; 401, 405 + Allow, malformed JSON and URL 400; adopted request id', async function () {
    const missing = `/v2/images/${randomUUID()}`;
    const json = await call(app, 'get', missing, { headers: OWNER });
    expectStatus(json, 404);
    assert.deepEqual(json.body && Object.keys(json.body as Doc).sort(), ['code', 'message', 'title']);
    assert.match(String((await call(app, 'get', missing, { headers: OWNER, accept: null })).headers['content-type']), /^text\/plain/);
    assert.match(String((await call(app, 'get', missing, { headers: OWNER, accept: '*/*' })).headers['content-type']), /^text\/html/);

    expectStatus(await call(app, 'get', '/v2/images'), 401);
    expectStatus(await call(app, 'get', '/v2/images', { headers: { ...OWNER, 'X-Identity-Status': 'Invalid' } }), 401);
    const notAllowed = await call(app, 'put', '/v2/images', { headers: OWNER, json: {} });
    expectStatus(notAllowed, 405);
    assert.equal(notAllowed.headers.allow, 'GET, POST');
    const head = await call(app, 'head', `/v2/images/${shared.id}`, { headers: OWNER });
    expectStatus(head, 405);
    assert.equal(head.headers.allow, 'GET, PATCH, DELETE');
    expectStatus(await call(app, 'post', '/v2/images', { headers: OWNER, json: 5 }), 400);
    expectStatus(await call(app, 'get', '/v2/images/%ff', { headers: OWNER }), 400);
    const adopted = await call(app, 'get', '/v2/images?limit=1', { headers: { ...OWNER, 'X-OpenStack-Request-ID': 'abc' } });
    assert.equal(adopted.headers['x-openstack-request-id'], 'req-abc');
    const malformed = await app.http.post('/v2/images').set({ ...OWNER, Accept: 'application/json', 'Content-Type': 'application/json' }).send('{"name":');
    assertMatchesSpec('post', '/v2/images', malformed.status, malformed.headers as Record<string, string>, malformed.body);
    assert.equal(malformed.status, 400);
  });

  it('delete: protected 403, foreign 403/404, 204, then 404', async function () {
    const guarded = await call(app, 'post', '/v2/images', { headers: OWNER, json: { protected: true, visibility: 'community' } });
    const guardedId = (guarded.body as Doc).id as string;
    expectStatus(await call(app, 'delete', `/v2/images/${guardedId}`, { headers: OWNER }), 403);
    expectStatus(await call(app, 'delete', `/v2/images/${guardedId}`, { headers: OTHER }), 403);
    expectStatus(await call(app, 'patch', `/v2/images/${guardedId}`, { headers: OWNER, type: JSON_PATCH, json: [{ op: 'replace', path: '/protected', value: false }] }), 200);
    expectStatus(await call(app, 'delete', `/v2/images/${guardedId}`, { headers: OWNER }), 204);

    const id = shared.id as string;
    expectStatus(await call(app, 'delete', `/v2/images/${id}`, { headers: OWNER }), 204);
    expectStatus(await call(app, 'get', `/v2/images/${id}`, { headers: OWNER }), 404);
    expectStatus(await call(app, 'delete', `/v2/images/${id}`, { headers: OWNER }), 404);
  });

  it('metadefs: every operation of namespaces, objects, properties, tags and resource types', async function () {
    await exerciseMetadefs((method, url, json) => call(app, method, url, { headers: ADMIN, json }), expectStatus);
  });

  it('every documented operation was exercised', function () {
    assert.deepEqual(uncoveredOperations(), [], `covered so far:\n${coveredResponses().join('\n')}`);
  });
});
