import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { startTestApp, type TestApp } from '../../support/app';
import { createImage, listen } from './support/harness';

/**
 * Issue #15 item 1: the versions document of Glance 2024.2+ (glance/api/versions.py on master):
 * v2.17 CURRENT, the older versions SUPPORTED, in Glance's order; /v2.16 and /v2.17 paths served
 * as /v2; python-glanceclient's `has_version('v2.17')` (its check before `location-add`) holds.
 */

type Version = { id: string; status: string; links: Array<{ rel: string; href: string }> };

const MULTI_STORE_INI =
  '[DEFAULT]\nenabled_backends = a:file, b:file\n[glance_store]\ndefault_backend = a\n[a]\nfilesystem_store_datadir = {dir}/a\n[b]\nfilesystem_store_datadir = {dir}/b\n';

describe('Glance API 2.17: versions', function () {
  let app: TestApp;
  before(async function () {
    app = await startTestApp();
  });
  after(async function () {
    await app.close();
  });

  it('GET /versions: v2.17 CURRENT between v2.9 and v2.7, every other version SUPPORTED (single store)', async function () {
    const res = await app.http.get('/versions');
    assert.equal(res.status, 200);
    const versions = res.body.versions as Version[];
    assert.deepEqual(
      versions.map((v) => `${v.id} ${v.status}`),
      ['v2.15 SUPPORTED', 'v2.9 SUPPORTED', 'v2.17 CURRENT', 'v2.7 SUPPORTED', 'v2.6 SUPPORTED', 'v2.5 SUPPORTED', 'v2.4 SUPPORTED', 'v2.3 SUPPORTED', 'v2.2 SUPPORTED', 'v2.1 SUPPORTED', 'v2.0 SUPPORTED'],
    );
    assert.ok(versions.every((v) => v.links.length === 1 && v.links[0].href.endsWith('/v2/')));
  });

  it('GET / answers 300 with the same document', async function () {
    const root = await app.http.get('/');
    assert.equal(root.status, 300);
    const summary = (body: { versions: Version[] }) => body.versions.map((v) => `${v.id} ${v.status}`);
    assert.deepEqual(summary(root.body), summary((await app.http.get('/versions')).body));
  });

  it('multi-store: the v2.13 … v2.8 block replaces v2.9, v2.17 stays the one CURRENT', async function () {
    const multi = await startTestApp(MULTI_STORE_INI);
    try {
      const versions = (await multi.http.get('/versions')).body.versions as Version[];
      assert.deepEqual(
        versions.map((v) => v.id),
        ['v2.15', 'v2.13', 'v2.12', 'v2.11', 'v2.10', 'v2.9', 'v2.8', 'v2.17', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'],
      );
      assert.deepEqual(versions.filter((v) => v.status === 'CURRENT').map((v) => v.id), ['v2.17']);
      assert.equal((await multi.http.get('/v2.17/info/stores')).status, 200);
    } finally {
      await multi.close();
    }
  });

  it('/v2.16/… and /v2.17/… are served as /v2/…; /v2.14, /v2.18 (no image cache) and /v2.8 (single store) get the 300 document', async function () {
    const image = await createImage(app, { name: 'via-2.17' });
    for (const prefix of ['/v2.16', '/v2.17']) {
      const one = await app.http.get(`${prefix}/images/${image.id as string}`);
      assert.equal(one.status, 200, prefix);
      assert.equal(one.body.name, 'via-2.17');
      assert.equal(one.body.self, `/v2/images/${image.id as string}`);
      const list = await app.http.get(`${prefix}/images`);
      assert.equal(list.body.first, '/v2/images');
    }
    for (const prefix of ['/v2.14', '/v2.18', '/v2.8']) {
      const res = await app.http.get(`${prefix}/images`);
      assert.equal(res.status, 300, prefix);
      assert.ok(Array.isArray(res.body.versions));
    }
  });

  it('Accept: application/vnd.openstack.images-v2.17 selects v2 for an unversioned path', async function () {
    const res = await app.http.get('/images').set('Accept', 'application/vnd.openstack.images-v2.17');
    assert.equal(res.status, 200);
    assert.ok(Array.isArray(res.body.images));
  });

  it("python-glanceclient's has_version('v2.17') is true; has_version('v2.18') is false", async function () {
    this.timeout(60_000);
    const probe = spawnSync('/usr/bin/python3', ['-c', 'import glanceclient'], { stdio: 'ignore' });
    assert.equal(probe.status, 0, 'python3-glanceclient is installed by .ci/install-system-packages.sh');
    const target = await listen(app);
    try {
      const script = [
        'import sys',
        'from glanceclient import client',
        'from glanceclient.common import utils',
        "c = client.Client('2', endpoint=sys.argv[1], token='unused')",
        "print(utils.has_version(c.http_client, 'v2.17'), utils.has_version(c.http_client, 'v2.18'))",
      ].join('\n');
      // not spawnSync: it would block the event loop the server answers on
      const output = await new Promise<string>((resolve, reject) => {
        const child = spawn('/usr/bin/python3', ['-c', script, target.url], { env: { ...process.env, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' } });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`python exited ${code}: ${err}`))));
      });
      assert.equal(output, 'True False');
    } finally {
      await target.close();
    }
  });
});
