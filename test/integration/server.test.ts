import { strict as assert } from 'node:assert';
import { request as httpRequest } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { childPids, freePort, runGlintToExit, startGlintProcess } from '../support/process';

describe('the glint server process', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'glint-server-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('starts with no configuration, creating ./data/glint.db and ./data/images, and answers /healthcheck', async () => {
    const port = await freePort();
    const glint = await startGlintProcess([], { cwd: dir, port, env: { GLINT_DEFAULT_BIND_PORT: String(port) } });
    try {
      const health = await fetch(`${glint.url}/healthcheck`);
      assert.equal(health.status, 200);
      assert.equal(await health.text(), 'OK');
      assert.ok(existsSync(path.join(dir, 'data/glint.db')));
      const created = await fetch(`${glint.url}/v2/images`, { method: 'POST', body: JSON.stringify({ name: 'a', disk_format: 'raw', container_format: 'bare' }) });
      assert.equal(created.status, 201);
      const { id } = (await created.json()) as { id: string };
      const put = await fetch(`${glint.url}/v2/images/${id}/file`, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: 'hello' });
      assert.equal(put.status, 204);
      assert.ok(existsSync(path.join(dir, 'data/images', id)), 'image data is in the filesystem store under ./data/images');
      await fetch(`${glint.url}/healthcheck`);
      assert.match(
        glint.output(),
        /\{"level":"info",[^\n]*"requestId":"req-[0-9a-f-]{36}","surface":"glance-v2","route":"\/v2\/images","method":"POST","path":"\/v2\/images","status":201,"durationMs":[\d.]+,"bytesIn":\d+,"bytesOut":\d+/,
        'request log event with request id, route, status, time and bytes',
      );
    } finally {
      assert.equal(await glint.stop(), 0);
    }
  });

  it('refuses to start on a bad value, naming the key and the file', async () => {
    const conf = path.join(dir, 'bad.conf');
    writeFileSync(conf, '[DEFAULT]\nbind_port = not-a-port\n');
    const { code, output } = await runGlintToExit(['--config-file', conf], dir);
    assert.equal(code, 2);
    assert.match(output, /\[DEFAULT\] bind_port/);
    assert.ok(output.includes(conf));
  });

  it('warns about unknown keys at start-up, naming them', async () => {
    const port = await freePort();
    const conf = path.join(dir, 'typo.conf');
    writeFileSync(conf, `[DEFAULT]\nbind_port = ${port}\nimage_size_kap = 5\n`);
    const glint = await startGlintProcess(['--config-file', conf], { cwd: dir, port });
    try {
      assert.match(glint.output(), /image_size_kap is not a glint option/);
    } finally {
      await glint.stop();
    }
  });

  it('on SIGTERM stops accepting, finishes the in-flight upload, then exits 0', async () => {
    const port = await freePort();
    const glint = await startGlintProcess([], { cwd: dir, port, env: { GLINT_DEFAULT_BIND_PORT: String(port) } });
    const created = await fetch(`${glint.url}/v2/images`, { method: 'POST', body: JSON.stringify({ disk_format: 'raw', container_format: 'bare' }) });
    const { id } = (await created.json()) as { id: string };

    const upload = new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${glint.url}/v2/images/${id}/file`, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': '6' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('abc');
      // The rest of the body arrives after SIGTERM was sent.
      setTimeout(() => {
        const exit = glint.stop();
        setTimeout(() => req.end('def'), 300);
        void exit;
      }, 300);
    });
    assert.equal(await upload, 204, 'the in-flight upload completed');
    assert.equal(await glint.stop(), 0);
    await assert.rejects(fetch(`${glint.url}/healthcheck`), 'no longer accepting connections');
  });

  it('with [DEFAULT] workers = 2 serves one port from two processes, replaces a dead worker and stops them all on SIGTERM', async () => {
    const port = await freePort();
    const conf = path.join(dir, 'workers.conf');
    writeFileSync(conf, `[DEFAULT]\nbind_port = ${port}\nworkers = 2\n`);
    const glint = await startGlintProcess(['--config-file', conf], { cwd: dir, port });
    const primary = glint.child.pid as number;
    const workers = () => childPids(primary);
    // A request that hangs fails the test naming itself, instead of running into mocha's timeout.
    const request = (path: string, init: RequestInit = {}) => fetch(`${glint.url}${path}`, { ...init, signal: AbortSignal.timeout(15_000) });
    const workersListening = () => glint.output().split('"worker listening"').length - 1;
    try {
      await waitFor(() => workers().length === 2 && glint.output().includes('"glint listening"'));
      // An image created through one worker is served by every worker: the state is in the catalog.
      const created = await request('/v2/images', { method: 'POST', body: JSON.stringify({ name: 'shared', disk_format: 'raw', container_format: 'bare' }) });
      const { id } = (await created.json()) as { id: string };
      for (let i = 0; i < 6; i++) {
        const res = await request(`/v2/images/${id}`, { headers: { Connection: 'close' } });
        assert.equal(res.status, 200);
      }

      // Both processes write the one SQLite file at once: every write lands.
      const statuses = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          request('/v2/images', { method: 'POST', headers: { Connection: 'close' }, body: JSON.stringify({ name: `w${i}`, tags: ['a', 'b'] }) }).then(async (res) => {
            const image = (await res.json()) as { id: string };
            const patched = await request(`/v2/images/${image.id}`, {
              method: 'PATCH',
              headers: { Connection: 'close', 'Content-Type': 'application/openstack-images-v2.1-json-patch' },
              body: JSON.stringify([{ op: 'add', path: '/os_distro', value: 'x' }]),
            });
            return [res.status, patched.status];
          }),
        ),
      );
      assert.deepEqual(statuses, Array.from({ length: 40 }, () => [201, 200]));
      const listed = (await (await request('/v2/images?limit=100')).json()) as { images: Array<{ os_distro?: string }> };
      assert.equal(listed.images.filter((image) => image.os_distro === 'x').length, 40);

      // One scrape sees the whole node: whichever worker answers, the primary has summed both
      // workers' counters (each worker alone served only part of the 41 creates).
      for (let i = 0; i < 3; i++) {
        const scrape = await request('/metrics', { headers: { Connection: 'close' } });
        assert.equal(scrape.status, 200);
        const text = await scrape.text();
        assert.match(text, /^glint_http_requests_total\{surface="glance-v2",route="\/v2\/images",method="POST",status="201"\} 41$/m);
        assert.match(text, /^glint_http_requests_total\{surface="glance-v2",route="\/v2\/images\/\{id\}",method="PATCH",status="200"\} 40$/m);
        assert.match(text, /^process_cpu_user_seconds_total \d/m);
      }

      const [victim] = workers();
      process.kill(victim, 'SIGKILL');
      // The replacement has started listening: by then the primary has dropped the dead worker
      // and hands it no more connections.
      await waitFor(() => workers().length === 2 && !workers().includes(victim) && workersListening() === 3);
      assert.equal((await request('/healthcheck', { headers: { Connection: 'close' } })).status, 200);
    } finally {
      const before = workers();
      const stopped = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`glint did not stop within 20 s:\n${glint.output()}`)), 20_000).unref());
      assert.equal(await Promise.race([glint.stop(), stopped]), 0, glint.output());
      for (const pid of before) assert.ok(!existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '), `worker ${pid} is gone`);
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
