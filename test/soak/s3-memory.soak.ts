import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { freePort, startGlintProcess, type GlintProcess } from '../support/process';
import { startS3Server, type S3TestServer } from '../support/s3';

/**
 * Memory under load: GLINT_SOAK_UPLOADS (default 20) concurrent uploads of GLINT_SOAK_GIB
 * (default 1) GiB each into an S3 store (s3rver) with the default part queue, on one glint
 * process (workers = 0). The figure is the server's peak RSS (VmHWM in /proc/<pid>/status); the
 * bound it is held to is the README's: uploads × (s3_store_thread_pools + 1) × part size, twice
 * (lib-storage copies each part once), plus a 300 MiB base.
 */
const MiB = 1024 * 1024;
const UPLOADS = Number(process.env.GLINT_SOAK_UPLOADS ?? 20);
const SIZE = Number(process.env.GLINT_SOAK_GIB ?? 1) * 1024 * MiB;
const PART = 10 * MiB;
const QUEUE = 2;

function status(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? 0) * 1024;
}

/** `size` bytes from one reused 1 MiB buffer: nothing on the client side grows with the upload. */
function body(size: number): Readable {
  const block = Buffer.alloc(MiB, 0x5a);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(MiB, size - sent);
      sent += n;
      this.push(n === MiB ? block : block.subarray(0, n));
    },
  });
}

function put(url: string, id: string, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v2/images/${id}/file`, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': size } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    body(size).pipe(req);
  });
}

describe(`Soak: ${UPLOADS} concurrent ${SIZE / 1024 / MiB} GiB uploads into S3 stay under the documented memory bound`, function () {
  let s3: S3TestServer;
  let glint: GlintProcess;
  let dir: string;
  before(async function () {
    s3 = await startS3Server();
    dir = mkdtempSync(path.join(tmpdir(), 'glint-s3-memory-'));
    const port = await freePort();
    writeFileSync(
      path.join(dir, 'glint.conf'),
      `[DEFAULT]\nbind_port = ${port}\nworkers = 0\n[database]\nconnection = sqlite:///glint.db\n` +
        `[glance_store]\ndefault_store = s3\ns3_store_host = ${s3.endpoint}\ns3_store_access_key = ${s3.accessKey}\ns3_store_secret_key = ${s3.secretKey}\n` +
        `s3_store_bucket = soak\ns3_store_create_bucket_on_put = true\ns3_store_checksum_mode = when_required\n`,
    );
    glint = await startGlintProcess(['--config-file', path.join(dir, 'glint.conf')], { cwd: dir, port });
  });
  after(async function () {
    await glint?.stop();
    await s3?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('peak RSS stays under the bound and every upload is active', async function () {
    const pid = glint.child.pid as number;
    const ids: string[] = [];
    for (let i = 0; i < UPLOADS; i++) {
      const res = await fetch(`${glint.url}/v2/images`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: `soak-${i}`, disk_format: 'raw', container_format: 'bare' }) });
      ids.push(((await res.json()) as { id: string }).id);
    }
    const baseline = status(pid, 'VmRSS');
    const started = Date.now();
    const statuses = await Promise.all(ids.map((id) => put(glint.url, id, SIZE)));
    const seconds = (Date.now() - started) / 1000;
    const peak = status(pid, 'VmHWM');
    const bound = 300 * MiB + UPLOADS * (QUEUE + 1) * PART * 2;
    console.log(
      `      ${UPLOADS} × ${SIZE / MiB} MiB in ${seconds.toFixed(0)} s (${((UPLOADS * SIZE) / MiB / seconds).toFixed(0)} MiB/s): ` +
        `RSS before ${(baseline / MiB).toFixed(0)} MiB, peak (VmHWM) ${(peak / MiB).toFixed(0)} MiB, bound ${(bound / MiB).toFixed(0)} MiB`,
    );
    assert.deepEqual(statuses, ids.map(() => 204));
    for (const id of ids) {
      const image = (await (await fetch(`${glint.url}/v2/images/${id}`)).json()) as { status: string; size: number };
      assert.equal(image.status, 'active');
      assert.equal(image.size, SIZE);
    }
    assert.ok(peak < bound, `peak RSS ${peak} over the bound ${bound}`);
  });
});
