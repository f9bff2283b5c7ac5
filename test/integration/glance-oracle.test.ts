import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startTestApp, type TestApp } from '../support/app';
import { freePort } from '../support/process';
import { listen, type Listening } from '../api/glance-v2/support/harness';

/**
 * The real Glance 25.1 (Debian `glance-api`, installed by .ci/install-system-packages.sh) as an
 * oracle: the same requests go to it and to glint, and the answers issue #15 item 8 names must
 * agree. Glance runs on loopback with a SQLite catalog, a file store and no auth
 * (`[paste_deploy] flavor` unset); glint in-process with the same defaults. Where glint follows
 * Glance 2024.2+ on purpose (versions, `location_import`), the comparison leaves that part out.
 */

const START_TIMEOUT_MS = 60_000;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function send(base: string, method: string, urlPath: string, options: { headers?: Record<string, string>; body?: Buffer } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${urlPath}`, { method, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const json = (answer: Answer) => JSON.parse(answer.body.toString()) as Record<string, unknown>;

interface Glance {
  url: string;
  stop(): Promise<void>;
  log(): string;
}

async function startGlance(dir: string): Promise<Glance> {
  const port = await freePort();
  for (const sub of ['images', 'staging', 'tasks', 'locks']) mkdirSync(path.join(dir, sub), { recursive: true });
  const conf = path.join(dir, 'glance-api.conf');
  const logFile = path.join(dir, 'glance-api.log');
  writeFileSync(
    conf,
    [
      '[DEFAULT]',
      'bind_host = 127.0.0.1',
      `bind_port = ${port}`,
      'workers = 1',
      `log_file = ${logFile}`,
      `node_staging_uri = file://${dir}/staging`,
      '[database]',
      `connection = sqlite:///${dir}/glance.sqlite`,
      '[glance_store]',
      'stores = file',
      'default_store = file',
      `filesystem_store_datadir = ${dir}/images/`,
      '[paste_deploy]',
      'config_file = /etc/glance/glance-api-paste.ini',
      '[os_glance_staging_store]',
      `filesystem_store_datadir = ${dir}/staging`,
      '[os_glance_tasks_store]',
      `filesystem_store_datadir = ${dir}/tasks`,
      '[oslo_concurrency]',
      `lock_path = ${dir}/locks`,
      '',
    ].join('\n'),
  );
  const sync = spawnSync('glance-manage', ['--config-file', conf, 'db_sync'], { encoding: 'utf8', timeout: START_TIMEOUT_MS });
  if (sync.status !== 0) throw new Error(`glance-manage db_sync failed: ${sync.stderr}`);
  const child: ChildProcess = spawn('glance-api', ['--config-file', conf], { stdio: 'ignore', detached: false });
  const url = `http://127.0.0.1:${port}`;
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`glance-api exited with ${child.exitCode}:\n${log()}`);
    try {
      if ((await send(url, 'GET', '/versions')).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`glance-api did not start:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    log,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

describe('Glance 25.1 oracle: the same requests to Glance and to glint', function () {
  this.timeout(START_TIMEOUT_MS * 2);
  let dir: string;
  let glance: Glance;
  let app: TestApp;
  let glint: Listening;
  const both = () => [glance.url, glint.url];

  before(async function () {
    const installed = spawnSync('sh', ['-c', 'command -v glance-api && command -v glance-manage'], { stdio: 'ignore' });
    assert.equal(installed.status, 0, 'glance-api is installed by .ci/install-system-packages.sh');
    dir = mkdtempSync(path.join(tmpdir(), 'glint-glance-oracle-'));
    glance = await startGlance(dir);
    app = await startTestApp();
    glint = await listen(app);
  });
  after(async function () {
    await glint?.close();
    await app?.close();
    await glance?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const createOn = async (base: string, body: Record<string, unknown>) => {
    const res = await send(base, 'POST', '/v2/images', { headers: { 'Content-Type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) });
    assert.equal(res.status, 201, `${base}: ${res.body.toString()}`);
    return json(res);
  };

  it('image and images schemas: the same status enum, in the same order', async function () {
    const [g, l] = await Promise.all(both().map((b) => send(b, 'GET', '/v2/schemas/image')));
    type Schema = { properties: { status: { enum: string[] } } };
    assert.deepEqual((json(l) as unknown as Schema).properties.status.enum, (json(g) as unknown as Schema).properties.status.enum);
    const [gs, ls] = await Promise.all(both().map((b) => send(b, 'GET', '/v2/schemas/images')));
    assert.deepEqual(json(ls), json(gs), glance.log());
  });

  it('task and tasks schemas are Glance\'s, but for the 2.17 task type location_import', async function () {
    for (const name of ['task', 'tasks']) {
      const [g, l] = await Promise.all(both().map((b) => send(b, 'GET', `/v2/schemas/${name}`)));
      const ours = JSON.stringify(json(l)).replace(',"location_import"', '');
      assert.deepEqual(JSON.parse(ours), json(g), name);
    }
  });

  it('an upload with no Content-Length and no chunked body: 204, size 0, virtual_size null on both', async function () {
    for (const base of both()) {
      const image = await createOn(base, { disk_format: 'raw', container_format: 'bare' });
      const res = await send(base, 'PUT', `/v2/images/${image.id as string}/file`, { headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(res.status, 204, base);
      const after = json(await send(base, 'GET', `/v2/images/${image.id as string}`));
      assert.deepEqual([after.status, after.size, after.virtual_size], ['active', 0, null], base);
    }
  });

  it('an explicit upper-case id is kept as given; its lower-case form is not found', async function () {
    for (const base of both()) {
      const upper = randomUUID().toUpperCase();
      const image = await createOn(base, { id: upper });
      assert.equal(image.id, upper, base);
      assert.equal((await send(base, 'GET', `/v2/images/${upper}`)).status, 200, base);
      assert.equal((await send(base, 'GET', `/v2/images/${upper.toLowerCase()}`)).status, 404, base);
    }
  });

  it('HEAD error answers: same status, Content-Type and empty body for every Accept', async function () {
    const paths = ['/v2/nothing', `/v2/images/${randomUUID()}`, '/v2/schemas/image', '/v2/images'];
    for (const accept of [undefined, '*/*', 'application/json']) {
      for (const p of paths) {
        const headers: Record<string, string> = accept ? { Accept: accept } : {};
        const [g, l] = await Promise.all(both().map((b) => send(b, 'HEAD', p, { headers })));
        const label = `HEAD ${p} (Accept ${accept ?? 'none'})`;
        assert.equal(l.status, g.status, label);
        assert.equal(l.headers['content-type'], g.headers['content-type'], label);
        assert.equal(l.headers.allow, g.headers.allow, label);
        assert.equal(l.headers['content-length'], g.headers['content-length'], label);
      }
    }
  });

  it('a round of everyday requests: the same status and Content-Type on both', async function () {
    const ids = await Promise.all(both().map(async (b) => (await createOn(b, { name: 'round', disk_format: 'raw', container_format: 'bare' })).id as string));
    const J = { 'Content-Type': 'application/json', Accept: 'application/json' };
    const PATCH = { 'Content-Type': 'application/openstack-images-v2.1-json-patch', Accept: 'application/json' };
    const OCTETS = { 'Content-Type': 'application/octet-stream', Accept: 'application/json' };
    const round: Array<[string, string, Record<string, string>, string?]> = [
      ['GET', '/v2/images/{id}', J],
      ['PATCH', '/v2/images/{id}', PATCH, JSON.stringify([{ op: 'replace', path: '/name', value: 'r2' }])],
      ['PATCH', '/v2/images/{id}', J, '[]'],
      ['PUT', '/v2/images/{id}/tags/t1', {}],
      ['DELETE', '/v2/images/{id}/tags/none', J],
      ['POST', '/v2/images/{id}/members', J, JSON.stringify({ member: 'p1' })],
      ['PUT', '/v2/images/{id}/file', OCTETS, '0123456789'],
      ['PUT', '/v2/images/{id}/file', OCTETS, '0123456789'],
      ['GET', '/v2/images/{id}/file', { Range: 'bytes=2-4' }],
      ['GET', '/v2/images/{id}/file', { Range: 'bytes=20-', Accept: 'application/json' }],
      ['POST', '/v2/images/{id}/actions/deactivate', J],
      ['POST', '/v2/images/{id}/actions/reactivate', J],
      ['GET', '/v2/images?limit=-1', J],
      ['GET', '/v2/images?sort_key=owner', J],
      ['GET', '/v2/info/usage', J],
      ['GET', '/v2/info/stores', J],
      ['GET', '/v2/tasks', J],
      ['PUT', '/v2/images', J, ''],
      ['GET', '/v2/foo', J],
      ['POST', '/v2/images', J, JSON.stringify({ status: 'active' })],
      ['POST', '/v2/images', J, JSON.stringify({ os_glance_x: 'a' })],
      ['DELETE', '/v2/images/{id}', J],
      ['DELETE', '/v2/images/{id}', J],
    ];
    for (const [method, template, headers, body] of round) {
      const answers = await Promise.all(
        both().map((b, i) => send(b, method, template.replace('{id}', ids[i]), { headers, body: body === undefined ? undefined : Buffer.from(body) })),
      );
      const [g, l] = answers;
      const label = `${method} ${template} ${body ?? ''}`;
      assert.equal(l.status, g.status, `${label}: Glance ${g.body.toString().slice(0, 200)} / glint ${l.body.toString().slice(0, 200)}`);
      if (g.status !== 204) assert.equal(l.headers['content-type'], g.headers['content-type'], label);
    }
  });
});
