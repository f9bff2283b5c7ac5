import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import * as path from 'node:path';
import fc from 'fast-check';
import type Router from '@koa/router';
import { createV2Router } from '../../src/http/surfaces/glance-v2/router';
import { startTestApp, type TestApp } from './app';

/**
 * Property-based fuzzing of every route of every surface with malformed requests, sent as raw
 * bytes on a socket (so nothing in a client library tidies them up): JSON and JSON-patch bodies,
 * headers, Range, ids, query strings, multipart with hostile file names, huge fields and deeply
 * nested JSON. The properties: never a 5xx (501 for a verb Glance does not know is its documented
 * answer), always an answer, and afterwards no file outside the store root and a server that
 * still answers. Seeded: a failure prints the seed and the shrunk request, and
 * GLINT_FUZZ_SEED=<seed> replays it.
 */

export interface RouteTemplate {
  method: string;
  /** Koa-router path with `:param` placeholders. */
  path: string;
  /** What the route's body is, to bias generation. */
  body: 'json' | 'patch' | 'data' | 'multipart' | 'none';
}

export interface FuzzTarget {
  app: TestApp;
  port: number;
  routes: RouteTemplate[];
  /** Ids of images that exist (queued, active, staged), so generated paths reach the handlers. */
  imageIds: string[];
  /** The filesystem store's root: every byte written must stay below it. */
  storeRoot: string;
  /** Leaf names used in ../ paths; none may appear anywhere after the run. */
  markers: Set<string>;
  close(): Promise<void>;
}

export interface FuzzReport {
  seed: number;
  runs: number;
  statuses: Record<string, number>;
  serverErrors: Array<{ status: number; request: string }>;
  millis: number;
}

const MARKER = 'glintfuzz';

/** The fuzzed app: trusted-auth (so identity headers are fuzzed too), a filesystem store, three images. */
export async function startFuzzTarget(): Promise<FuzzTarget> {
  const app = await startTestApp(
    '[DEFAULT]\nenabled_import_methods = glance-direct,web-download,copy-image\n' +
      '[paste_deploy]\nflavor = trusted-auth\n[glance_store]\nfilesystem_store_datadir = {dir}/root/images\n',
  );
  const storeRoot = path.join(app.dir, 'root', 'images');
  const server: Server = createServer(app.app.koa.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const admin = { 'X-Identity-Status': 'Confirmed', 'X-Project-Id': 'p1', 'X-Roles': 'admin', 'X-User-Id': 'u1' };
  const imageIds: string[] = [];
  for (const state of ['queued', 'active', 'uploading']) {
    const created = await app.http.post('/v2/images').set(admin).send({ name: state, disk_format: 'raw', container_format: 'bare' });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id as string;
    if (state === 'active') await app.http.put(`/v2/images/${id}/file`).set(admin).set('Content-Type', 'application/octet-stream').send(Buffer.alloc(100, 7));
    if (state === 'uploading') await app.http.put(`/v2/images/${id}/stage`).set(admin).set('Content-Type', 'application/octet-stream').send(Buffer.alloc(100, 9));
    imageIds.push(id);
  }
  return {
    app,
    port,
    routes: allRoutes(app),
    imageIds,
    storeRoot,
    markers: new Set(),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await app.close();
    },
  };
}

/** Every route of every surface: the Glance router's own table, the algoPlatform operations when that surface exists, the EdgeGallery and imageops routes. */
function allRoutes(app: TestApp): RouteTemplate[] {
  const router: Router = createV2Router(app.app.services, app.config);
  const routes: RouteTemplate[] = [];
  for (const layer of router.stack) {
    for (const method of layer.methods) {
      if (method === 'HEAD') continue;
      const p = layer.path as string;
      let body: RouteTemplate['body'] = 'none';
      if (method === 'PATCH') body = 'patch';
      else if (p.endsWith('/file') || p.endsWith('/stage')) body = method === 'PUT' ? 'data' : 'none';
      else if (method === 'POST' || method === 'PUT') body = 'json';
      routes.push({ method, path: p, body });
    }
  }
  const algo = path.join(__dirname, '../../src/http/surfaces/algoplatform/router.ts');
  if (existsSync(algo)) {
    // required only when present: the surface is being added alongside
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(algo) as { BASE_PATH: string; createRoutes(o: unknown): Map<string, unknown> };
    for (const op of mod.createRoutes({ algorithms: null, uploadSizeCap: 0 }).keys()) {
      routes.push({ method: 'POST', path: `${mod.BASE_PATH}/${op}`, body: op === '_upload' ? 'multipart' : 'json' });
    }
  }
  // the EdgeGallery and imageops surfaces, from the app's own route table (`{id}` → `:id`)
  for (const route of app.app.routes) {
    if (route.surface !== 'file-management' && route.surface !== 'imageops') continue;
    if (route.method === 'HEAD' || route.method === 'OPTIONS') continue;
    const body: RouteTemplate['body'] = route.method !== 'POST' ? 'none' : route.surface === 'imageops' ? 'json' : 'multipart';
    routes.push({ method: route.method, path: route.path.replace(/\{(\w+)\}/g, ':$1'), body });
  }
  return routes;
}

// ---- generators ---------------------------------------------------------------------------------

const hostileSegments = [
  '..', '../..', '..%2f..%2fetc%2fpasswd', '%2e%2e%2f%2e%2e%2f', '%00', 'a%00b', '%ff%fe', '%', '%zz', '~', '.', '%2F',
  'x'.repeat(300), '\u00e9t\u00e9', '%F0%9F%92%A9', '00000000-0000-0000-0000-000000000000', 'NULL', 'undefined', '-1', '1e309',
];

function idArb(target: FuzzTarget): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...target.imageIds) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.uuid().map((u) => u.toUpperCase()) },
    { weight: 3, arbitrary: fc.constantFrom(...hostileSegments) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map(encodeURIComponent) },
  );
}

/** A ../ path ending in a leaf that must never appear on disk. */
function traversalArb(target: FuzzTarget): fc.Arbitrary<string> {
  return fc.tuple(fc.integer({ min: 1, max: 8 }), fc.nat(9999), fc.constantFrom('/', '\\', '/./', '//')).map(([depth, n, sep]) => {
    const leaf = `${MARKER}${n}`;
    target.markers.add(leaf);
    return `${`..${sep}`.repeat(depth)}${leaf}`;
  });
}

const queryKeys = [
  'limit', 'marker', 'sort', 'sort_key', 'sort_dir', 'name', 'status', 'visibility', 'member_status', 'owner', 'tag', 'size_min',
  'size_max', 'created_at', 'updated_at', 'os_hidden', 'protected', 'disk_format', 'container_format', 'id', 'type', 'os_distro', 'prefer',
];

function queryArb(target: FuzzTarget): fc.Arbitrary<string> {
  const value = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.constantFrom('in:a,b', 'eq:', 'gte:2020-01-01T00:00:00Z', 'lt:', 'neq:x', 'name:asc,id:desc', 'size:sideways', '-1', '0', '99999999999999999999', '1e3', 'true', 'NaN'),
    idArb(target),
    fc.string({ minLength: 2000, maxLength: 5000 }),
  );
  const pair = fc.tuple(fc.oneof(fc.constantFrom(...queryKeys), fc.string({ maxLength: 10 })), value).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  const rawPair = fc.constantFrom('limit=%zz', 'a=%', '&&&', '=', 'sort=%00', 'limit=1&limit=2', 'marker[]=x', 'a[b][c]=1');
  return fc.array(fc.oneof({ weight: 4, arbitrary: pair }, { weight: 1, arbitrary: rawPair }), { maxLength: 6 }).map((pairs) => (pairs.length ? `?${pairs.join('&')}` : ''));
}

function fillPath(template: string, target: FuzzTarget): fc.Arbitrary<string> {
  const names = [...template.matchAll(/:(\w+)/g)].map((m) => m[1]);
  const segment = (name: string) =>
    name === 'id'
      ? idArb(target)
      : fc.oneof(
          fc.constantFrom('file', 'p1', 'p2', 'admin', 'image', 'accepted', 'x'),
          fc.constantFrom(...hostileSegments),
          traversalArb(target).map(encodeURIComponent),
          fc.string({ maxLength: 300 }).map(encodeURIComponent),
        );
  return fc.tuple(...names.map(segment)).map((values) => {
    let i = 0;
    return template.replace(/:(\w+)/g, () => values[i++] as string);
  });
}

/** JSON values from shallow and weird to 20,000 levels deep. */
function jsonTextArb(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 3, arbitrary: imageLikeObjectArb().map((v) => JSON.stringify(v)) },
    { weight: 2, arbitrary: deepJsonArb() },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constantFrom('', '{', '{"a":', '[1,2', 'null', '"x"', '{}', '[]', '\u0000', '{"a":1}{"b":2}', '{"name":"\\ud800"}', '1'.repeat(400)) },
    { weight: 1, arbitrary: fc.string({ minLength: 100_000, maxLength: 100_000 }).map((s) => JSON.stringify({ name: s, description: s })) },
  );
}

function deepJsonArb(): fc.Arbitrary<string> {
  return fc.tuple(fc.integer({ min: 50, max: 20_000 }), fc.constantFrom('[', '{"a":', '{"name":', '{"member":', '[{"op":"add","path":"/x","value":')).map(([depth, open]) => {
    const close = open === '[' ? ']' : open.startsWith('[') ? '}]' : '}';
    return open.repeat(depth) + '1' + close.repeat(depth);
  });
}

const imageKeys = [
  'name', 'id', 'disk_format', 'container_format', 'visibility', 'protected', 'os_hidden', 'tags', 'min_disk', 'min_ram', 'owner', 'status',
  'locations', 'member', 'method', 'stores', 'all_stores', 'all_stores_must_succeed', 'type', 'input', 'image_properties', 'import_from',
  'kernel_id', 'os_glance_x', 'self', 'file', 'schema', 'checksum', 'size', 'virtual_size', 'imageName', 'imageTag', 'namespace',
  'userResult', 'searchCondition', 'pageNum', 'pageSize', 'ports', 'env', 'deleteList',
];

function imageLikeObjectArb(): fc.Arbitrary<Record<string, unknown>> {
  const value = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom('raw', 'qcow2', 'bare', 'public', 'community', 'glance-direct', 'web-download', 'copy-image', 'http://127.0.0.1:1/x', 'file:///etc/passwd'),
    fc.record({ name: fc.constantFrom('glance-direct', 'web-download', 'copy-image', 'x'), uri: fc.string() }, { requiredKeys: [] }),
    fc.string({ minLength: 256, maxLength: 300 }),
  );
  return fc.dictionary(fc.oneof(fc.constantFrom(...imageKeys), fc.string({ maxLength: 12 })), value, { maxKeys: 8 });
}

function patchTextArb(): fc.Arbitrary<string> {
  const op = fc.record(
    {
      op: fc.oneof(fc.constantFrom('add', 'replace', 'remove', 'move', 'copy', 'test'), fc.string({ maxLength: 8 })),
      path: fc.oneof(
        fc.constantFrom('/name', '/tags', '/tags/0', '/locations/-', '/locations/0', '/visibility', '/protected', '/x', '/os_glance_a', '/min_ram', '/~1', '/~2', '', '/', '//'),
        fc.string({ maxLength: 30 }).map((s) => `/${s}`),
        fc.array(fc.constantFrom('a', '0', '-', '~0'), { maxLength: 12 }).map((parts) => `/${parts.join('/')}`),
      ),
      value: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string({ minLength: 60_000, maxLength: 70_000 })),
      from: fc.string({ maxLength: 10 }),
    },
    { requiredKeys: ['op'] },
  );
  return fc.oneof(
    { weight: 5, arbitrary: fc.array(op, { maxLength: 5 }).map((ops) => JSON.stringify(ops)) },
    { weight: 1, arbitrary: fc.array(fc.constant({ op: 'add', path: '/tags/-', value: 't' }), { minLength: 200, maxLength: 400 }).map((ops) => JSON.stringify(ops)) },
    { weight: 2, arbitrary: jsonTextArb() },
  );
}

function multipartArb(target: FuzzTarget): fc.Arbitrary<{ contentType: string; body: Buffer }> {
  const filename = fc.oneof(
    traversalArb(target),
    traversalArb(target).map((p) => `${p}\u0000.json`),
    fc.constantFrom('image_list.json', '', '\u0000', 'a\u0000b', '/etc/passwd', 'C:\\windows\\x', '....//....//x', '%2e%2e%2fx'),
    fc.string({ minLength: 1000, maxLength: 5000 }),
  );
  const part = fc.tuple(fc.constantFrom('file', 'part', 'other', '', 'file"; name="x'), filename, jsonTextArb(), fc.boolean());
  return fc.tuple(fc.array(part, { minLength: 0, maxLength: 3 }), fc.constantFrom('b0undary', '', '----x', 'a'.repeat(80)), fc.boolean()).map(([parts, boundary, closed]) => {
    const chunks = parts.map(([name, file, content, withType]) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${file}"\r\n${withType ? 'Content-Type: application/json\r\n' : ''}\r\n${content}\r\n`,
    );
    const body = chunks.join('') + (closed ? `--${boundary}--\r\n` : '');
    return { contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.from(body, 'utf8') };
  });
}

const contentTypes = [
  'application/json', 'application/openstack-images-v2.1-json-patch', 'application/openstack-images-v2.0-json-patch', 'application/octet-stream',
  'text/plain', 'application/json; charset=latin1', 'multipart/form-data', 'multipart/form-data; boundary=', '', ';;;', 'application/json-patch+json',
];

function headersArb(target: FuzzTarget): fc.Arbitrary<Array<[string, string]>> {
  const identity = fc.oneof(
    { weight: 6, arbitrary: fc.constant<Array<[string, string]>>([['X-Identity-Status', 'Confirmed'], ['X-Project-Id', 'p1'], ['X-Roles', 'admin'], ['X-User-Id', 'u1']]) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom('p1', 'p2', '', ' ', 'x'.repeat(300)), fc.constantFrom('member', 'reader', '', 'admin,member', ',,,')).map(([p, r]) => [['X-Identity-Status', 'Confirmed'], ['X-Project-Id', p], ['X-Roles', r], ['X-User-Id', 'u2']] as Array<[string, string]>) },
    { weight: 1, arbitrary: fc.constant<Array<[string, string]>>([]) },
  );
  const extra = fc.array(
    fc.oneof(
      fc.tuple(fc.constant('Range'), fc.oneof(fc.constantFrom('bytes=0-0', 'bytes=-1', 'bytes=5-', 'bytes=9-1', 'bytes=0-0,2-3', 'bytes=a-b', 'bytes=', 'items=0-1', 'bytes=0-99999999999999999999', 'bytes=-0'), fc.string({ maxLength: 30 }))),
      fc.tuple(fc.constant('Content-Range'), fc.constantFrom('bytes 0-1/2', 'bytes */10', 'bytes 5-1/3', 'garbage')),
      fc.tuple(fc.constant('X-Image-Meta-Store'), fc.oneof(fc.constantFrom('file', 'nope', '', '..', '../..'), traversalArb(target))),
      fc.tuple(fc.constant('Accept'), fc.constantFrom('application/json', 'text/html', '*/*;q=0', 'application/json;q=abc', '')),
      fc.tuple(fc.constant('X-Openstack-Request-Id'), fc.constantFrom('req-x', '', 'req-' + 'a'.repeat(500))),
      fc.tuple(fc.constant('OpenStack-API-Version'), fc.constantFrom('image 2.15', 'image 99', 'x')),
      fc.tuple(fc.constantFrom('X-Huge', 'Cookie', 'X-Auth-Token'), fc.string({ minLength: 4000, maxLength: 12_000 }).map((s) => s.replace(/[^\x20-\x7e]/g, 'a'))),
      fc.tuple(fc.constant('Accept-Encoding'), fc.constantFrom('gzip', 'br', 'identity;q=0')),
    ),
    { maxLength: 4 },
  );
  return fc.tuple(identity, extra).map(([a, b]) => [...a, ...b]);
}

interface FuzzRequest {
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body: Buffer | null;
  chunked: boolean;
}

function bodyFor(route: RouteTemplate, target: FuzzTarget): fc.Arbitrary<{ contentType: string | null; body: Buffer | null }> {
  const text = (arb: fc.Arbitrary<string>, types: fc.Arbitrary<string>) =>
    fc.tuple(arb, types).map(([t, contentType]) => ({ contentType, body: Buffer.from(t, 'utf8') }));
  const invalidUtf8 = fc.uint8Array({ maxLength: 300 }).map((a) => ({ contentType: 'application/json', body: Buffer.concat([Buffer.from('{"name":"'), Buffer.from(a), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]) }));
  const data = fc.tuple(fc.uint8Array({ maxLength: 70_000 }), fc.constantFrom('application/octet-stream', 'application/json', 'text/plain', '')).map(([a, contentType]) => ({ contentType, body: Buffer.from(a) }));
  const none = fc.constant({ contentType: null, body: null });
  const anyType = fc.constantFrom(...contentTypes);
  switch (route.body) {
    case 'json':
      return fc.oneof({ weight: 6, arbitrary: text(jsonTextArb(), fc.constant('application/json')) }, { weight: 1, arbitrary: text(jsonTextArb(), anyType) }, invalidUtf8, none, multipartArb(target));
    case 'patch':
      return fc.oneof(
        { weight: 6, arbitrary: text(patchTextArb(), fc.constantFrom('application/openstack-images-v2.1-json-patch', 'application/openstack-images-v2.0-json-patch')) },
        { weight: 1, arbitrary: text(patchTextArb(), anyType) },
        invalidUtf8,
        none,
      );
    case 'data':
      return fc.oneof({ weight: 4, arbitrary: data }, none, text(jsonTextArb(), anyType));
    case 'multipart':
      return fc.oneof({ weight: 4, arbitrary: multipartArb(target) }, text(jsonTextArb(), anyType), data, none);
    default:
      return fc.oneof({ weight: 4, arbitrary: none }, text(jsonTextArb(), anyType), data);
  }
}

export function requestArb(target: FuzzTarget): fc.Arbitrary<FuzzRequest> {
  const routeArb = fc.constantFrom(...target.routes);
  return routeArb.chain((route) =>
    fc
      .record({
        method: fc.oneof({ weight: 12, arbitrary: fc.constant(route.method) }, fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'M-SEARCH')),
        path: fc.oneof({ weight: 12, arbitrary: fillPath(route.path, target) }, traversalArb(target).map((p) => `/v2/images/${p}`), fc.constantFrom('/v2/images/', '/v2//images', '/v2/images/%', '/%2e%2e/etc/passwd', '/v2/images?', '/algoPlatform/images/../x', '/algoPlatform/images/_upload/..', '*')),
        query: queryArb(target),
        headers: headersArb(target),
        body: bodyFor(route, target),
        chunked: fc.boolean(),
      })
      .map(({ method, path: p, query, headers, body, chunked }) => {
        const all = [...headers];
        if (body.contentType !== null) all.push(['Content-Type', body.contentType]);
        return { method, target: p + query, headers: all, body: body.body, chunked: chunked && body.body !== null };
      }),
  );
}

// ---- sending ------------------------------------------------------------------------------------

/** One request on a fresh socket, bytes as given; resolves with the status (0 when no answer came). */
export function sendRaw(port: number, request: FuzzRequest, timeoutMs = 30_000): Promise<number> {
  const lines = [`${request.method} ${request.target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  let payload: Buffer = Buffer.alloc(0);
  if (request.body !== null) {
    if (request.chunked) {
      lines.push('Transfer-Encoding: chunked');
      payload = request.body.length ? Buffer.concat([Buffer.from(`${request.body.length.toString(16)}\r\n`), request.body, Buffer.from('\r\n0\r\n\r\n')]) : Buffer.from('0\r\n\r\n');
    } else {
      lines.push(`Content-Length: ${request.body.length}`);
      payload = request.body;
    }
  }
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let first: Buffer = Buffer.alloc(0);
    let settled = false;
    const done = (status: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(status);
    };
    const timer = setTimeout(() => done(0), timeoutMs);
    socket.on('connect', () => {
      socket.write(head);
      // the server may answer (413, 400) and close before the whole body is in: that is fine
      socket.write(payload, () => {});
    });
    socket.on('data', (chunk: Buffer) => {
      first = Buffer.concat([first, chunk]);
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(first.toString('latin1', 0, Math.min(first.length, 32)));
      if (match) done(Number(match[1]));
    });
    socket.on('error', () => {
      /* an answer may already be in; otherwise `close` reports 0 */
    });
    socket.on('close', () => done(0));
  });
}

export function describeRequest(request: FuzzRequest): string {
  const body = request.body === null ? '' : ` body(${request.body.length}B${request.chunked ? ', chunked' : ''}): ${JSON.stringify(request.body.subarray(0, 160).toString('latin1'))}`;
  const headers = request.headers.map(([n, v]) => `${n}: ${v.length > 80 ? `${v.slice(0, 80)}…(${v.length})` : v}`).join(' | ');
  return `${request.method} ${request.target.length > 200 ? `${request.target.slice(0, 200)}…` : request.target} [${headers}]${body}`;
}

/**
 * Sends `runs` generated requests to `target` and counts the answers. Every 5xx (except 501 for a
 * method Glance does not know) and every request that got no answer is recorded with the request;
 * the run goes on, so the report counts them all. The same seed generates the same requests.
 */
export async function fuzz(target: FuzzTarget, options: { runs: number; seed: number }): Promise<FuzzReport> {
  const started = Date.now();
  const statuses: Record<string, number> = {};
  const serverErrors: FuzzReport['serverErrors'] = [];
  const standard = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
  await fc.assert(
    fc.asyncProperty(requestArb(target), async (request) => {
      const status = await sendRaw(target.port, request);
      statuses[status] = (statuses[status] ?? 0) + 1;
      const notImplemented = status === 501 && !standard.has(request.method);
      if (status === 0 || (status >= 500 && !notImplemented)) serverErrors.push({ status, request: describeRequest(request) });
      return true;
    }),
    { seed: options.seed, numRuns: options.runs },
  );
  return { seed: options.seed, runs: options.runs, statuses, serverErrors, millis: Date.now() - started };
}

/** Files anywhere under `dir` that are not below `allowed` (each an absolute path). */
export function filesOutside(dir: string, allowed: string[]): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = path.join(d, name);
      if (allowed.some((a) => full === a || full.startsWith(a + path.sep))) continue;
      if (statSync(full).isDirectory()) walk(full);
      else found.push(full);
    }
  };
  walk(dir);
  return found;
}

/** Every marker leaf that exists on disk at any depth of ../ from the store root (there must be none). */
export function escapedMarkers(target: FuzzTarget): string[] {
  const hits: string[] = [];
  for (const leaf of target.markers) {
    for (let depth = 0; depth <= 10; depth++) {
      const candidate = path.resolve(target.storeRoot, ...Array<string>(depth).fill('..'), leaf);
      if (existsSync(candidate)) hits.push(candidate);
    }
  }
  return hits;
}

export function fuzzSeed(): number {
  const fromEnv = process.env.GLINT_FUZZ_SEED;
  return fromEnv ? Number(fromEnv) : Date.now() % 2_147_483_647;
}
