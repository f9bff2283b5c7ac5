import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { flushDirtyPages, freePort, runOk, sleep, startService, TSX_CJS, waitForHttp, type Service } from './proc';

/**
 * The reference servers: nginx serving the bench's blob files, and Debian's Glance API with no
 * authentication, SQLite and one file store. Each runs on a random loopback port with its whole
 * configuration, state and logs in its own directory under the bench's temp dir.
 */

export interface Reference {
  name: string;
  url: string;
  service: Service;
  dir: string;
  stop(): Promise<void>;
}

/**
 * nginx with its own `-c` config and `-p` prefix: `root` is `dataDir`, sendfile on, no access log,
 * as many workers as cores (Debian's default `worker_processes auto`), unlimited keep-alive
 * requests so wrk's connections stay open as they do against glint.
 */
export async function startNginx(dir: string, dataDir: string): Promise<Reference> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const temp = (name: string) => {
    mkdirSync(join(dir, name), { recursive: true });
    return join(dir, name);
  };
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes auto;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path ${temp('body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${dataDir};
    location / { }
  }
}
`,
  );
  const service = startService('nginx', '/usr/sbin/nginx', ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')], { logFile: join(dir, 'stdout.log') });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/`, service, 15_000);
  } catch (err) {
    await service.stop();
    throw new Error(`${(err as Error).message}\nnginx error.log:\n${tailOf(join(dir, 'error.log'))}`, { cause: err });
  }
  return { name: 'nginx', url, service, dir, stop: () => service.stop() };
}

/**
 * Debian's glance-api (eventlet console script) with a temp glance-api.conf and paste ini:
 * [paste_deploy] flavor unset (the `glance-api` pipeline with unauthenticated-context, every
 * request an admin), SQLite via `glance-manage db_sync`, one filesystem store, workers = cores.
 */
export async function startGlance(dir: string): Promise<Reference> {
  mkdirSync(join(dir, 'images'), { recursive: true });
  mkdirSync(join(dir, 'locks'), { recursive: true });
  const port = await freePort();
  const pasteSource = ['/usr/share/glance-common/glance-api-paste.ini', '/etc/glance/glance-api-paste.ini'].find((p) => existsSync(p));
  if (!pasteSource) throw new Error('glance-api-paste.ini not found in /usr/share/glance-common or /etc/glance');
  const paste = join(dir, 'glance-api-paste.ini');
  copyFileSync(pasteSource, paste);
  // the healthcheck filter reads a "disable" file path from the ini; keep it inside the temp dir
  writeFileSync(paste, readFileSync(paste, 'utf8').replace(/^(disable_by_file_path\s*=).*$/m, `$1 ${join(dir, 'healthcheck_disable')}`));
  const conf = join(dir, 'glance-api.conf');
  writeFileSync(
    conf,
    `[DEFAULT]
bind_host = 127.0.0.1
bind_port = ${port}
workers = ${cpus().length}
log_file = ${join(dir, 'glance-api.log')}
use_stderr = false
debug = false

[database]
connection = sqlite:///${join(dir, 'glance.sqlite')}

[paste_deploy]
config_file = ${paste}

[glance_store]
stores = file
default_store = file
filesystem_store_datadir = ${join(dir, 'images')}

[oslo_concurrency]
lock_path = ${join(dir, 'locks')}
`,
  );
  await runOk('/usr/bin/glance-manage', ['--config-file', conf, '--log-file', join(dir, 'glance-manage.log'), 'db_sync'], { timeoutMs: 120_000 }).catch((err: unknown) => {
    throw new Error(`glance-manage db_sync failed: ${(err as Error).message}\n${tailOf(join(dir, 'glance-manage.log'))}`, { cause: err });
  });
  const service = startService('glance-api', '/usr/bin/glance-api', ['--config-file', conf], { logFile: join(dir, 'stdout.log') });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/v2/images`, service, 60_000, 200);
  } catch (err) {
    await service.stop();
    throw new Error(`${(err as Error).message}\nglance-api.log:\n${tailOf(join(dir, 'glance-api.log'))}`, { cause: err });
  }
  return { name: 'glance', url, service, dir, stop: () => service.stop() };
}

function tailOf(file: string, lines = 25): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

const HASH_SCRIPT = `
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const fd = openSync(process.argv[1], 'r');
const buf = Buffer.allocUnsafe(1 << 20);
const hash = createHash(process.argv[2]);
let total = 0, ns = 0n, n;
while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) {
  const t = process.hrtime.bigint();
  hash.update(n === buf.length ? buf : buf.subarray(0, n));
  ns += process.hrtime.bigint() - t;
  total += n;
}
closeSync(fd);
process.stdout.write(JSON.stringify({ bytes: total, seconds: Number(ns) / 1e9, digest: hash.digest('hex') }));
`;

/**
 * What Glance's hashing contract costs an upload: `algorithm` (sha512 for os_hash_value, md5 for
 * checksum) over the same bytes on one core, in a fresh node process reading the (page-cached)
 * file in 1 MiB chunks; only hashing is timed. Neither hash can be split across cores, so the
 * slower of the two bounds any upload that computes both.
 */
export async function hashSpeed(file: string, algorithm: 'sha512' | 'md5'): Promise<{ bytes: number; seconds: number; digest: string }> {
  const out = await runOk(process.execPath, ['-e', HASH_SCRIPT, file, algorithm], { timeoutMs: 300_000 });
  return JSON.parse(out) as { bytes: number; seconds: number; digest: string };
}

const DURABLE_WRITE_SCRIPT = `
const { openSync, readSync, writeSync, fdatasyncSync, closeSync, unlinkSync } = require('node:fs');
const [source, target] = process.argv.slice(1);
const input = openSync(source, 'r');
const output = openSync(target, 'w');
const buf = Buffer.allocUnsafe(1 << 20);
let total = 0, n;
const started = process.hrtime.bigint();
while ((n = readSync(input, buf, 0, buf.length, null)) > 0) {
  writeSync(output, buf, 0, n);
  total += n;
}
fdatasyncSync(output);
const ns = process.hrtime.bigint() - started;
closeSync(input);
closeSync(output);
unlinkSync(target);
process.stdout.write(JSON.stringify({ bytes: total, seconds: Number(ns) / 1e9 }));
`;

/**
 * What the disk puts on an upload that is durable when it is answered, as glint's is (it fsyncs
 * before the 204; Glance's file store does not): the page-cached blob copied into a file in
 * `dir` with 1 MiB writes, then fdatasync, no hashing. The file is removed afterwards.
 */
export async function durableWriteSpeed(file: string, dir: string): Promise<{ bytes: number; seconds: number }> {
  mkdirSync(dir, { recursive: true });
  await flushDirtyPages();
  const out = await runOk(process.execPath, ['-e', DURABLE_WRITE_SCRIPT, file, join(dir, 'durable-write-probe')], { timeoutMs: 300_000 });
  return JSON.parse(out) as { bytes: number; seconds: number };
}

/** What the download floor reads: glint's catalog file, its file store's directory, and an image stored there. */
export interface DownloadFloorSource {
  catalog: string;
  dataDir: string;
  imageId: string;
}

/**
 * The ceilings of the HTTP stack for small GETs (bench/koa-floor-child.ts), with glint's default
 * number of workers: Koa and one @koa/router route answering 4 KiB from memory; or, given
 * `download`, the same route reading the image's catalog row and 4 KiB of its file per request.
 */
export async function startKoaFloor(dir: string, size: number, download?: DownloadFloorSource): Promise<Reference> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const name = download ? 'download-floor' : 'koa-floor';
  const logFile = join(dir, `${name}.log`);
  const mode = download ? ['download', download.catalog, download.dataDir] : ['memory'];
  const service = startService(name, process.execPath, [...TSX_CJS, join(__dirname, 'koa-floor-child.ts'), String(port), String(size), ...mode], { logFile });
  const url = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 30_000;
    while (!tailOf(logFile).includes('KOA-FLOOR listening')) {
      if (Date.now() > deadline) throw new Error(`the ${name} server did not start:\n${tailOf(logFile)}`);
      if (service.child.exitCode !== null) throw new Error(`the ${name} server exited:\n${tailOf(logFile)}`);
      await sleep(100);
    }
    await waitForHttp(`${url}/v2/images/${download?.imageId ?? 'x'}/file`, service, 15_000, 206);
  } catch (err) {
    await service.stop();
    throw err;
  }
  return { name, url, service, dir, stop: () => service.stop() };
}

/**
 * The ceiling of an upload that computes md5 and sha512 on this machine (bench/put-floor-child.ts):
 * bare node:http passing the body through glint's two hash threads and dropping the bytes.
 */
export async function startPutFloor(dir: string, expectedMd5: string | null): Promise<Reference> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const logFile = join(dir, 'put-floor.log');
  const service = startService('put-floor', process.execPath, [...TSX_CJS, join(__dirname, 'put-floor-child.ts'), String(port), ...(expectedMd5 ? [expectedMd5] : [])], { logFile });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(url, service, 30_000, 204);
  } catch (err) {
    await service.stop();
    throw err;
  }
  return { name: 'put-floor', url, service, dir, stop: () => service.stop() };
}
