import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, treeMemoryOf, run, startService, waitForHttp, type Service } from './proc';

export const REPO_ROOT = resolve(__dirname, '..');
const MAIN = join(REPO_ROOT, 'dist/src/main.js');

/** `npm run build`; the bench measures the compiled server, never tsx. */
export async function buildGlint(): Promise<void> {
  const result = await run('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, timeoutMs: 300_000 });
  if (result.code !== 0) {
    throw new Error(`npm run build failed (exit ${result.code}); glint cannot be measured:\n${(result.stdout + result.stderr).trim().slice(-3000)}`);
  }
  if (!existsSync(MAIN)) throw new Error(`npm run build produced no ${MAIN}`);
}

/**
 * Which code was measured: HEAD and the files under src/ and migrations/ that differ from it
 * (read-only git; others may be editing the tree while the bench builds it).
 */
export async function glintSourceState(): Promise<{ commit: string; uncommitted: string[] }> {
  const head = await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT }).catch(() => null);
  const status = await run('git', ['status', '--porcelain', '--', 'src', 'migrations'], { cwd: REPO_ROOT }).catch(() => null);
  return {
    commit: head?.code === 0 ? head.stdout.trim() : 'unknown',
    uncommitted: (status?.stdout ?? '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean),
  };
}

export type GlintStore =
  | { type: 'file'; dataDir: string }
  | { type: 's3'; endpoint: string; accessKey: string; secretKey: string; bucket: string };

export interface GlintOptions {
  /** Working directory: config, logs and (unless given) the SQLite file live here. */
  dir: string;
  store: GlintStore;
  database?: string;
  /** Write a V8 CPU profile into this directory when the process exits. */
  cpuProfileDir?: string;
  /** [DEFAULT] workers; glint's default (one per CPU) when absent. */
  workers?: number;
}

export interface Glint {
  url: string;
  pid: number;
  service: Service;
  /**
   * VmHWM (peak RSS since start) and VmRSS of the largest glint process (the primary or one of
   * its workers), and the VmRSS sum over all of them; bytes.
   */
  memory(): { hwm: number; rss: number; totalRss: number; processes: number };
  stop(): Promise<void>;
}

/**
 * Starts `node dist/src/main.js --config-file <dir>/glint.conf` on a random loopback port with a
 * glance-api.conf-style file: no auth (flavor unset), SQLite, one store. Access log (stdout) and
 * log (stderr) go to <dir>/glint.log, a file as an operator would have, not a pipe the bench must drain.
 */
export async function startGlint(options: GlintOptions): Promise<Glint> {
  mkdirSync(options.dir, { recursive: true });
  const port = await freePort();
  const database = options.database ?? join(options.dir, 'glint.db');
  const store = options.store;
  const storeLines =
    store.type === 'file'
      ? ['default_store = file', `filesystem_store_datadir = ${store.dataDir}`]
      : [
          'default_store = s3',
          `s3_store_host = ${store.endpoint}`,
          `s3_store_access_key = ${store.accessKey}`,
          `s3_store_secret_key = ${store.secretKey}`,
          `s3_store_bucket = ${store.bucket}`,
          's3_store_create_bucket_on_put = true',
          // s3rver has no flexible checksums
          's3_store_checksum_mode = when_required',
        ];
  const conf = join(options.dir, 'glint.conf');
  writeFileSync(
    conf,
    ['[DEFAULT]', 'bind_host = 127.0.0.1', `bind_port = ${port}`, ...(options.workers === undefined ? [] : [`workers = ${options.workers}`]), '', '[database]', `connection = sqlite:///${database}`, '', '[glance_store]', ...storeLines, ''].join('\n'),
  );
  const nodeArgs = options.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] : [];
  if (options.cpuProfileDir) mkdirSync(options.cpuProfileDir, { recursive: true });
  // Only the variables glint needs: no GLINT_* override from the caller's shell can leak in.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8' };
  const service = startService('glint', process.execPath, [...nodeArgs, MAIN, '--config-file', conf], { cwd: options.dir, env, logFile: join(options.dir, 'glint.log') });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/healthcheck`, service, 30_000, 200);
  } catch (err) {
    await service.stop();
    throw err;
  }
  const pid = service.pid;
  return {
    url,
    pid,
    service,
    memory: () => treeMemoryOf(pid),
    // SIGTERM: glint drains and exits through process.exit, which is when --cpu-prof writes
    stop: () => service.stop(30_000),
  };
}
