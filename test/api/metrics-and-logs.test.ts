import { strict as assert } from 'node:assert';
import { unlinkSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/lib/logger';
import { startTestApp, type TestApp } from '../support/app';
import { randomData } from '../support/random-data';

/** Reads `name{labels}` from a Prometheus text exposition (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2] ? match[2].split(/,(?=[a-zA-Z_]\w*=")/) : [];
    if (wanted.every((pair) => have.includes(pair))) return Number(match[3]);
  }
  return 0;
}

function collect(stream: PassThrough): () => string {
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return () => text;
}

describe('GET /metrics and the request log', function () {
  this.timeout(30_000);
  let app: TestApp;
  let log: () => string;
  let appLog: () => string;
  const payload = randomData(100_000);
  const TOKEN = 'gAAAAABsecret-token-value-0123456789';

  before(async () => {
    const requestLog = new PassThrough();
    const applicationLog = new PassThrough();
    log = collect(requestLog);
    appLog = collect(applicationLog);
    app = await startTestApp(
      [
        '[DEFAULT]',
        'enabled_backends = fast:file',
        '[glance_store]',
        'default_backend = fast',
        '[fast]',
        'filesystem_store_datadir = {dir}/fast',
        '[paste_deploy]',
        'flavor = trusted-auth',
        '[keystone_authtoken]',
        'password = hunter2-service-password',
        '',
      ].join('\n'),
      {},
      { accessLog: requestLog, logger: createLogger({ stream: applicationLog }) },
    );
  });
  after(() => app?.close());

  // member with the reader role it implies, as a Keystone token carries them (Glance's secure-RBAC defaults)
  const who = { 'X-Identity-Status': 'Confirmed', 'X-Project-Id': 'proj-a', 'X-Roles': 'member,reader', 'X-User-Id': 'user-a', 'X-Auth-Token': TOKEN };

  it('counts a scripted workload by surface, route template and status; bytes; latency; store errors', async () => {
    const before = (await app.http.get('/metrics')).text;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await app.http.post('/v2/images').set(who).send({ name: `m${i}`, disk_format: 'raw', container_format: 'bare' });
      assert.equal(created.status, 201);
      ids.push(created.body.id as string);
    }
    assert.equal((await app.http.put(`/v2/images/${ids[0]}/file`).set(who).type('application/octet-stream').send(payload)).status, 204);
    for (let i = 0; i < 2; i++) assert.equal((await app.http.get(`/v2/images/${ids[0]}/file`).set(who)).status, 200);
    assert.equal((await app.http.get('/v2/images/00000000-0000-0000-0000-000000000000').set(who)).status, 404);
    assert.equal((await app.http.post('/algoPlatform/images/_search').send({})).status, 200);
    // a missing object: the download fails in the store, which the store-error counter sees
    unlinkSync(path.join(app.dir, 'fast', ids[0]));
    assert.equal((await app.http.get(`/v2/images/${ids[0]}/file`).set(who)).status, 404);

    const res = await app.http.get('/metrics');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = res.text;
    const delta = (name: string, labels: Record<string, string>) => sample(text, name, labels) - sample(before, name, labels);
    const req = (route: string, method: string, status: string, surface = 'glance-v2') => delta('glint_http_requests_total', { surface, route, method, status });
    assert.equal(req('/v2/images', 'POST', '201'), 3);
    assert.equal(req('/v2/images/{id}/file', 'PUT', '204'), 1);
    assert.equal(req('/v2/images/{id}/file', 'GET', '200'), 2);
    assert.equal(req('/v2/images/{id}/file', 'GET', '404'), 1);
    assert.equal(req('/v2/images/{id}', 'GET', '404'), 1);
    assert.equal(req('/algoPlatform/images/_search', 'POST', '200', 'algoplatform'), 1);
    assert.equal(sample(before, 'glint_http_requests_total', { route: '/metrics' }), 0, 'a scrape is counted once it is finished');
    assert.equal(delta('glint_http_request_duration_seconds_count', { surface: 'glance-v2', route: '/v2/images', method: 'POST' }), 3);
    assert.ok(delta('glint_http_request_bytes_total', { route: '/v2/images/{id}/file' }) >= payload.length, 'upload bytes in');
    assert.ok(delta('glint_http_response_bytes_total', { route: '/v2/images/{id}/file' }) >= 2 * payload.length, 'download bytes out');
    assert.equal(delta('glint_store_errors_total', { store: 'fast', operation: 'get', kind: 'not_found' }), 1);
    assert.equal(sample(text, 'glint_uploads_in_flight'), 0);
    assert.equal(sample(text, 'glint_jobs_in_flight'), 0);
    for (const name of ['glint_http_requests_in_flight', 'glint_catalog_query_errors_total', 'glint_job_queue_depth', 'glint_store_errors_total']) {
      assert.ok(text.includes(`# TYPE ${name} `), `${name} is exposed`);
    }
  });

  it('job queue depth by type and catalog query errors come from the catalog', async () => {
    const knex = (app.app.catalog as unknown as { knex: import('knex').Knex }).knex;
    await app.app.catalog.tasks.create({ id: '11111111-1111-4111-8111-111111111111', type: 'api_image_import', owner: null, imageId: null, requestId: null, userId: null, input: {} });
    await knex.raw('select * from no_such_table').catch(() => undefined);
    const text = (await app.http.get('/metrics')).text;
    assert.equal(sample(text, 'glint_job_queue_depth', { type: 'api_image_import' }), 1);
    assert.ok(sample(text, 'glint_catalog_query_errors_total', { operation: 'raw' }) >= 1);
  });

  it('the request log: one JSON event per request with request id, surface, route, status, duration, bytes, user and project', async () => {
    const res = await app.http.get('/v2/images?limit=1').set(who).set('X-OpenStack-Request-ID', 'req-0badcafe-0000-4000-8000-000000000001');
    assert.equal(res.status, 200);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const events = log()
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const event = events.find((e) => e.requestId === 'req-0badcafe-0000-4000-8000-000000000001');
    assert.ok(event, 'the adopted request id is logged');
    assert.equal(event.level, 'info');
    assert.equal(event.surface, 'glance-v2');
    assert.equal(event.route, '/v2/images');
    assert.equal(event.method, 'GET');
    assert.equal(event.status, 200);
    assert.equal(event.user, 'user-a');
    assert.equal(event.project, 'proj-a');
    assert.equal(typeof event.durationMs, 'number');
    assert.ok((event.bytesIn as number) > 0 && (event.bytesOut as number) > 0);
    for (const e of events.filter((e) => e.surface === 'glance-v2')) assert.match(String(e.requestId), /^req-[0-9a-f-]{36}$/);
  });

  it('no token or password is ever logged, even when a caller hands them to the logger', () => {
    const all = log() + appLog();
    assert.ok(all.length > 0);
    assert.ok(!all.includes(TOKEN), 'X-Auth-Token value not in the logs');
    assert.ok(!all.includes('hunter2'), 'config password not in the logs');

    const out = new PassThrough();
    const text = collect(out);
    const careless = createLogger({ stream: out });
    careless.info('config', { password: 'hunter2', keystone: { password: 'hunter2' }, headers: { 'x-auth-token': TOKEN }, store: { s3: { secretKey: 'hunter2' } } });
    assert.ok(text().includes('[REDACTED]'));
    assert.ok(!text().includes('hunter2') && !text().includes(TOKEN), text());
  });

  it('log level and format come from [glint]: debug/pretty', async () => {
    const requestLog = new PassThrough();
    const text = collect(requestLog);
    const pretty = await startTestApp('[glint]\nlog_format = pretty\nlog_level = warn\n', {}, { accessLog: requestLog });
    try {
      assert.equal(pretty.config.server.logFormat, 'pretty');
      assert.equal((await pretty.http.get('/healthcheck')).status, 200);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(text(), '', 'request events are info: below warn, nothing');
    } finally {
      await pretty.close();
    }
    const requestLog2 = new PassThrough();
    const text2 = collect(requestLog2);
    const pretty2 = await startTestApp('[glint]\nlog_format = pretty\n', {}, { accessLog: requestLog2 });
    try {
      await pretty2.http.get('/healthcheck');
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.match(text2(), /INFO.*GET \/healthcheck 200/);
      assert.ok(!text2().trimStart().startsWith('{'), 'not JSON');
    } finally {
      await pretty2.close();
    }
  });
});
