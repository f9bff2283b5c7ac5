import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { authtokenIni, startKeystone, type TestKeystone } from '../support/keystone';
import { clientEnv, freePort, startGlintProcess, type GlintProcess } from '../support/process';
import { randomData } from '../support/random-data';

/**
 * Image locations with the real clients of the distribution:
 * - python-glanceclient 4.1's `location-add`, `location-update` and `location-delete` (the PATCH of
 *   /locations, show_multiple_locations on), without authentication;
 * - the Image API 2.17 calls (POST and GET /v2/images/{id}/locations) as nova and cinder make
 *   them: a Keystone user with the `service` role, through glanceclient's Keystone session. Debian
 *   12's glanceclient (4.1) and openstacksdk (0.101) predate the 2.17 commands (glanceclient 4.5
 *   has `location-add` / `location-list` on them, after checking the server for v2.17), so the
 *   calls go through glanceclient's own HTTP client, with that version check done the same way.
 */

const CLIENT_TIMEOUT_MS = 120_000;
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const sha512 = (data: Buffer) => createHash('sha512').update(data).digest('hex');

/** Runs a client in a fresh HOME (glanceclient caches schemas there); rejects with its output unless it exits 0. */
function run(dir: string, command: string, args: string[], glint: () => GlintProcess | undefined): Promise<string> {
  const home = mkdtempSync(path.join(dir, 'home-'));
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: dir, env: clientEnv(home), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), CLIENT_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout);
      const requests = glint()?.output().trim().split('\n').slice(-15).join('\n') ?? '';
      reject(new Error(`${command} ${args.slice(0, 6).join(' ')} exited with ${code}\n--- stderr\n${stderr}\n--- stdout\n${stdout}\n--- glint\n${requests}`));
    });
  });
}

/** glanceclient's `| Property | Value |` table as a record. */
function parseTable(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let last: string | null = null;
  for (const line of text.split('\n')) {
    const match = /^\|\s(.*?)\s*\|\s(.*?)\s*\|$/.exec(line);
    if (!match || (match[1] === 'Property' && match[2] === 'Value')) continue;
    if (match[1] === '' && last) out[last] += match[2];
    else out[(last = match[1])] = match[2];
  }
  return out;
}

function storeIni(dir: string, port: number, extra: string): string {
  return [
    '[DEFAULT]',
    'bind_host = 127.0.0.1',
    `bind_port = ${port}`,
    'show_multiple_locations = true',
    'workers = 0',
    '[database]',
    `connection = sqlite:///${path.join(dir, 'glint.db')}`,
    '[glance_store]',
    `filesystem_store_datadir = ${path.join(dir, 'images')}`,
    extra,
    '',
  ].join('\n');
}

/** An object another service wrote into the store, and its file:// URL. */
function putObject(dir: string, key: string, data: Buffer): string {
  const file = path.join(dir, 'images', key);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
  return pathToFileURL(file).href;
}

describe('real clients: image locations (glanceclient location-add/update/delete, the 2.17 API as a Keystone service user)', function () {
  this.timeout(CLIENT_TIMEOUT_MS * 3);

  describe('glance location-add / location-update / location-delete (PATCH of /locations)', function () {
    let dir: string;
    let glint: GlintProcess | undefined;
    const glance = async (url: string, ...args: string[]) => run(dir, 'glance', ['--os-image-url', url, '--os-auth-token', 'dummy', ...args], () => glint);

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'glint-locations-'));
      const port = await freePort();
      const conf = path.join(dir, 'glance-api.conf');
      writeFileSync(conf, storeIni(dir, port, ''));
      glint = await startGlintProcess(['--config-file', conf], { cwd: dir, port });
    });
    after(async () => {
      await glint?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('adds two locations to a queued image, updates one, deletes the other; the image reads from what is left', async () => {
      const url = glint!.url;
      const data = randomData(1024 * 1024 + 17);
      // glance image-create would upload its (empty, non-tty) stdin: the record is made over HTTP
      const res = await fetch(`${url}/v2/images`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'by-location', disk_format: 'raw', container_format: 'bare' }),
      });
      const created = (await res.json()) as { id: string; status: string };
      assert.equal(created.status, 'queued');
      const first = putObject(dir, 'external/first.raw', data);
      const second = putObject(dir, 'external/second.raw', data);

      const added = parseTable(await glance(url, 'location-add', '--url', first, '--metadata', '{"source": "cinder"}', created.id));
      assert.equal(added.status, 'active');
      assert.equal(added.size, String(data.length));
      await glance(url, 'location-add', '--url', second, created.id);
      await glance(url, 'location-update', '--url', second, '--metadata', '{"tier": "2"}', created.id);
      const both = JSON.parse(parseTable(await glance(url, 'image-show', '--max-column-width', '10000', created.id)).locations.replace(/'/g, '"')) as unknown;
      assert.deepEqual(both, [
        { url: first, metadata: { source: 'cinder' } },
        { url: second, metadata: { tier: '2' } },
      ]);

      await glance(url, 'location-delete', '--url', first, created.id);
      assert.equal(existsSync(new URL(first)), false, "the deleted location's data is gone, as in Glance");
      const out = path.join(dir, 'download.raw');
      await glance(url, 'image-download', '--file', out, created.id);
      assert.ok(readFileSync(out).equals(data), 'downloaded bytes differ from the location left');
      await assert.rejects(glance(url, 'location-delete', '--url', second, created.id), /Cannot remove last location/);
    });
  });

  describe('POST / GET /v2/images/{id}/locations as a service user of the real Keystone', function () {
    let ks: TestKeystone;
    let dir: string;
    let glint: GlintProcess | undefined;

    before(async () => {
      ks = await startKeystone();
      dir = mkdtempSync(path.join(tmpdir(), 'glint-locations-ks-'));
      const conf = path.join(dir, 'glance-api.conf');
      writeFileSync(conf, storeIni(dir, ks.imagePort, authtokenIni(ks)));
      glint = await startGlintProcess(['--config-file', conf], { cwd: dir, port: ks.imagePort });
    });
    after(async () => {
      await glint?.stop();
      await ks?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('the service user adds a location (hashed, active, readable); GET lists it for services only; a member may do neither', async () => {
      const data = randomData(2 * 1024 * 1024 + 5);
      const url = putObject(dir, 'nova/disk.raw', data);
      const url2 = putObject(dir, 'nova/disk-2.raw', data);
      const script = path.join(dir, 'locations.py');
      writeFileSync(script, PYTHON);
      const user = (key: 'glint' | 'memberA') => ({ name: ks.users[key].name, password: ks.users[key].password, project: ks.users[key].projectName });
      const input = JSON.stringify({ auth_url: ks.authUrl, service: user('glint'), member: user('memberA'), url, url2 });
      // the distribution's python3, where glanceclient and keystoneauth1 are installed
      const result = JSON.parse(await run(dir, '/usr/bin/python3', [script, input], () => glint)) as Record<string, unknown>;

      assert.ok((result.versions as string[]).includes('v2.17'), `glanceclient 4.5's has_version('v2.17') check: ${JSON.stringify(result.versions)}`);
      assert.equal(result.add_status, 202);
      assert.deepEqual(result.image, { status: 'active', size: data.length, checksum: md5(data), os_hash_algo: 'sha512', os_hash_value: sha512(data) });
      assert.equal(result.download_md5, md5(data));
      assert.deepEqual(result.locations, [{ url, metadata: {} }]);
      assert.equal(result.member_list_status, 403);
      assert.equal(result.member_add_status, 403);
      assert.match(String(result.member_add_message), /http store must be enabled/);
      assert.equal(result.nova_add_status, 202, "the member's token with the service user's X-Service-Token: the service role counts");
      assert.equal(result.nova_image_status, 'active');
    });
  });
});

/** The client side: glanceclient over a keystoneauth1 session, as nova's glance client builds it. */
const PYTHON = `
import hashlib, json, sys, time
from keystoneauth1 import session
from keystoneauth1.identity import v3
from glanceclient import Client, exc

args = json.loads(sys.argv[1])

def client(user):
    auth = v3.Password(auth_url=args['auth_url'], username=user['name'], password=user['password'],
                       project_name=user['project'], user_domain_name='Default', project_domain_name='Default')
    return Client('2', session=session.Session(auth=auth))

svc = client(args['service'])
member = client(args['member'])
out = {'versions': [v['id'] for v in svc.versions.list()]}
image = svc.images.create(name='nova-snapshot', disk_format='raw', container_format='bare', visibility='public')
resp, _ = svc.http_client.post('/v2/images/%s/locations' % image['id'], data={'url': args['url']})
out['add_status'] = resp.status_code
for _ in range(200):
    current = svc.images.get(image['id'])
    if current['status'] == 'active' and current.get('os_hash_value'):
        break
    time.sleep(0.1)
out['image'] = {k: current.get(k) for k in ('status', 'size', 'checksum', 'os_hash_algo', 'os_hash_value')}
out['download_md5'] = hashlib.md5(b''.join(svc.images.data(image['id']))).hexdigest()
_, out['locations'] = svc.http_client.get('/v2/images/%s/locations' % image['id'])
try:
    member.http_client.get('/v2/images/%s/locations' % image['id'])
    out['member_list_status'] = 200
except exc.HTTPException as e:
    out['member_list_status'] = e.code
own = member.images.create(name='own', disk_format='raw', container_format='bare')
try:
    member.http_client.post('/v2/images/%s/locations' % own['id'], data={'url': args['url']})
    out['member_add_status'] = 202
except exc.HTTPException as e:
    out['member_add_status'] = e.code
    out['member_add_message'] = str(e)
# nova's call: the user's token, and its own as X-Service-Token
resp, _ = member.http_client.post('/v2/images/%s/locations' % own['id'], data={'url': args['url2']},
                                  headers={'X-Service-Token': svc.http_client.session.get_token()})
out['nova_add_status'] = resp.status_code
for _ in range(200):
    current = member.images.get(own['id'])
    if current['status'] == 'active':
        break
    time.sleep(0.1)
out['nova_image_status'] = current['status']
print(json.dumps(out))
`;
