import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3TestServer } from './s3';

/**
 * A real S3 server for the tests: Ceph RADOS Gateway (Debian 12's Ceph 16 "Pacific" packages
 * ceph-mon, ceph-osd, radosgw and ceph-common, installed by .ci/install-system-packages.sh) on a
 * throw-away single-node cluster: one monitor, one OSD keeping its data in RAM (memstore) and
 * radosgw with the beast frontend, all bound to 127.0.0.1 and all kept in a fresh temp directory.
 *
 * `sharedRgw()` starts it at most once per mocha process, when the first suite asks for it;
 * `stopSharedRgw()` (the global teardown in test/support/global-fixtures.ts) stops it at the end:
 * radosgw, then the OSD, then the monitor (radosgw hangs in its shutdown when the OSD goes first),
 * then removes the directory. A watchdog does the same if the test process dies without teardown.
 *
 * The daemons run in the foreground (`-f`) as children of this process, in their own process group
 * (a terminal's Ctrl-C does not kill them out of order), with stdin from /dev/null and stdout and
 * stderr appended to log files: they never hold the test runner's pipes, and node opens every other
 * descriptor close-on-exec, so nothing else leaks into them.
 */

/** One cluster's ports: a block of 100 below Linux's ephemeral range (32768+), so no port-0 server collides. */
interface Ports {
  mon: number;
  rgw: number;
  /** The OSD binds a few ports (public, cluster, heartbeats; 8 here) in [osdMin, osdMax]. */
  osdMin: number;
  osdMax: number;
  /** The lock file claiming the block; removed with the cluster. */
  lock: string;
}

export interface RgwServer extends S3TestServer {
  /** The cluster's directory: ceph.conf, daemon data, logs (`log/`). */
  dir: string;
}

const ACCESS_KEY = 'GLINTRGWTESTKEY00001';
const SECRET_KEY = 'glintrgwtestsecret00000000000000000000001';
/** The only region RGW's default zonegroup accepts ("default" api_name): any other fails CreateBucket. */
const REGION = 'us-east-1';
const BINARIES = ['monmaptool', 'ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph'];
const INSTALL_HINT = 'apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common (or run .ci/install-system-packages.sh)';
const RGW_POOLS = [
  '.rgw.root',
  'default.rgw.log',
  'default.rgw.control',
  'default.rgw.meta',
  'default.rgw.buckets.index',
  'default.rgw.buckets.data',
  'default.rgw.buckets.non-ec',
];
/** Ceph's own environment must not redirect our commands to another cluster. */
const CEPH_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CEPH_')));

type Daemon = 'mon' | 'osd' | 'rgw';

class Cluster {
  readonly conf: string;
  readonly endpoint: string;
  private readonly children = new Map<Daemon, ChildProcess>();
  private watchdog: ChildProcess | undefined;

  constructor(
    readonly dir: string,
    readonly ports: Ports,
  ) {
    this.conf = join(dir, 'ceph.conf');
    this.endpoint = `http://127.0.0.1:${ports.rgw}`;
  }

  async start(): Promise<void> {
    const { dir, ports } = this;
    await Promise.all(['run', 'log', 'crash', 'mon/a', 'osd/0', 'rgw', 'pids'].map((sub) => mkdir(join(dir, sub), { recursive: true })));
    const fsid = randomUUID();
    await writeFile(this.conf, cephConf(dir, fsid, ports));
    this.startWatchdog();

    // monitor: a one-member monmap, the mon's store, then the daemon
    await run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${ports.mon}]`, join(dir, 'run/monmap')]);
    await run('ceph-mon', ['-c', this.conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'run/monmap')], { log: join(dir, 'log/mon-mkfs.out') });
    await this.daemon('mon', 'ceph-mon', ['-i', 'a']);

    // the OSD's id (the ceph CLI waits for the monitor to come up: client mount timeout)
    const osdUuid = randomUUID();
    const id = (await this.ceph('osd', 'new', osdUuid, '0')).trim();
    if (id !== '0') throw new Error(`ceph osd new answered ${JSON.stringify(id)}, expected 0`);

    // RGW's pools and their application tags, from one ceph process (each is an osdmap commit;
    // separate processes would cost about 0.4 s each), while the OSD boots. radosgw would
    // otherwise create them lazily, on its first start and its first bucket and multipart upload.
    const pools = this.cephBatch(
      RGW_POOLS.flatMap((pool) => [`osd pool create ${pool} 8 8`, `osd pool application enable ${pool} rgw`]),
      'pools',
    );
    // OSD (memstore: no device, data in RAM)
    const osd = (async () => {
      await run('ceph-osd', ['-c', this.conf, '-i', '0', '--mkfs', '--osd-uuid', osdUuid], { log: join(dir, 'log/osd-mkfs.out') });
      await this.daemon('osd', 'ceph-osd', ['-i', '0']);
    })();
    await Promise.all([pools, osd]);
    const created = (await this.ceph('osd', 'pool', 'ls')).split('\n').filter(Boolean);
    if (created.length !== RGW_POOLS.length) throw new Error(`pool creation failed, pools: ${created.join(', ')}`);
    // radosgw started before the OSD is up resends its first requests only on the objecter's
    // 5 s tick: wait for the OSD
    await this.waitForOsd(60_000);

    await this.daemon('rgw', 'radosgw', ['-n', 'client.rgw']);
    await this.waitForHttp(60_000);

    await run('radosgw-admin', ['-c', this.conf, 'user', 'create', '--uid=glint-test', '--display-name=glint tests', `--access-key=${ACCESS_KEY}`, `--secret-key=${SECRET_KEY}`], {
      log: join(dir, 'log/radosgw-admin.out'),
    });
  }

  /** One ceph CLI command; resolves with its output. */
  private ceph(...args: string[]): Promise<string> {
    return run('ceph', ['-c', this.conf, ...args], { timeoutMs: 60_000 });
  }

  /** Several ceph CLI commands through one process, which reads them from its stdin; output to log/<name>.out. */
  private cephBatch(commands: string[], name: string): Promise<void> {
    const log = join(this.dir, 'log', `${name}.out`);
    return run('ceph', ['-c', this.conf], { input: commands.join('\n') + '\n', log, timeoutMs: 60_000 }).then(() => undefined);
  }

  /** radosgw, then the OSD, then the monitor; each gets SIGTERM and 10 s before SIGKILL. Then the watchdog and the directory go. */
  async stop(): Promise<void> {
    for (const name of ['rgw', 'osd', 'mon'] as const) {
      const child = this.children.get(name);
      if (child) await terminate(child, 10_000);
      this.children.delete(name);
    }
    // a line on its stdin tells the watchdog that the cluster is gone
    this.watchdog?.stdin?.end('stopped\n');
    this.watchdog = undefined;
    await rm(this.dir, { recursive: true, force: true });
    await rm(this.ports.lock, { force: true });
  }

  /** The last lines of every daemon log, for a start-up failure's message. */
  async logTail(lines = 15): Promise<string> {
    const files = ['mon.a.log', 'osd.0.log', 'client.rgw.log', 'mon.out', 'osd.out', 'rgw.out', 'pools.out', 'mon-mkfs.out', 'osd-mkfs.out', 'radosgw-admin.out'];
    const parts = await Promise.all(
      files.map(async (file) => {
        const text = await readFile(join(this.dir, 'log', file), 'utf8').catch(() => '');
        const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
        return tail ? `--- ${file}\n${tail}` : '';
      }),
    );
    return parts.filter(Boolean).join('\n');
  }

  private async daemon(name: Daemon, command: string, args: string[]): Promise<void> {
    const out = openSync(join(this.dir, 'log', `${name}.out`), 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, ['-f', '-c', this.conf, ...args], { stdio: ['ignore', out, out], detached: true, env: CEPH_ENV });
    } finally {
      closeSync(out);
    }
    child.unref();
    this.children.set(name, child);
    child.on('error', () => {}); // a spawn failure shows as the exit below
    await writeFile(join(this.dir, 'pids', name), `${child.pid ?? ''}\n`);
  }

  /**
   * Until the OSD is up: its log's "state: booting -> active" line, checked every 50 ms (a ceph
   * CLI call costs about 0.4 s), or `ceph osd stat` saying so, asked every 2 s.
   */
  private async waitForOsd(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let nextStat = Date.now() + 2000;
    while (Date.now() < deadline) {
      this.assertAlive();
      const log = await readFile(join(this.dir, 'log/osd.0.log'), 'utf8').catch(() => '');
      if (log.includes('state: booting -> active')) return;
      if (Date.now() >= nextStat) {
        const stat = await this.ceph('osd', 'stat', '-f', 'json').catch(() => '');
        if (/"num_up_osds":\s*1\b/.test(stat)) return;
        nextStat = Date.now() + 2000;
      }
      await sleep(50);
    }
    throw new Error(`the OSD did not come up within ${timeoutMs / 1000} s`);
  }

  private assertAlive(): void {
    for (const [name, child] of this.children) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) during start-up`);
    }
  }

  private async waitForHttp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      this.assertAlive();
      try {
        const res = await fetch(`${this.endpoint}/`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`radosgw did not answer on ${this.endpoint} within ${timeoutMs / 1000} s`);
  }

  /**
   * A detached shell that stops the daemons in order and removes the directory if this process
   * dies without stopping the cluster, so that it does not outlive a killed test run. It reads its
   * stdin, a pipe from this process: a line means the cluster was stopped, end of file means this
   * process is gone. It signals only PIDs whose command line names this cluster's ceph.conf.
   */
  private startWatchdog(): void {
    const script = [
      'dir=$1',
      'if read -r _; then exit 0; fi',
      'for d in rgw osd mon; do',
      '  p=$(cat "$dir/pids/$d" 2>/dev/null) || continue',
      '  case "$p" in ""|*[!0-9]*) continue ;; esac',
      '  tr "\\0" " " <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$dir/ceph.conf" || continue',
      '  kill -TERM "$p" 2>/dev/null',
      '  i=0',
      '  while [ -d "/proc/$p" ] && ! grep -q "^State:.*Z" "/proc/$p/status" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
      '  kill -KILL "$p" 2>/dev/null',
      'done',
      'rm -rf "$dir" "$2"',
    ].join('\n');
    const watchdog = spawn('/bin/sh', ['-c', script, 'glint-rgw-watchdog', this.dir, this.ports.lock], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    watchdog.on('error', () => {});
    watchdog.stdin?.on('error', () => {});
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    this.watchdog = watchdog;
  }
}

/** Starts a fresh cluster; the caller stops it. Fails with the daemons' last log lines when it cannot start. */
export async function startRgw(): Promise<RgwServer> {
  const missing = await missingBinaries();
  if (missing.length > 0) throw new Error(`Ceph RGW cannot start: ${missing.join(', ')} not found; install with: ${INSTALL_HINT}`);
  let lastError: unknown;
  // a second attempt on another port block, should another process have taken one of ours meanwhile
  for (let attempt = 1; attempt <= 2; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'glint-rgw-'));
    const cluster = new Cluster(dir, await claimPortBlock());
    try {
      await cluster.start();
      return {
        dir,
        endpoint: cluster.endpoint,
        region: REGION,
        accessKey: ACCESS_KEY,
        secretKey: SECRET_KEY,
        stop: () => cluster.stop(),
      };
    } catch (err) {
      const logs = await cluster.logTail();
      await cluster.stop().catch(() => undefined);
      lastError = new Error(`Ceph RGW failed to start (attempt ${attempt}, ports ${JSON.stringify(cluster.ports)}): ${(err as Error).message}\n${logs}`, {
        cause: err,
      });
    }
  }
  throw lastError;
}

let shared: Promise<RgwServer> | undefined;

/**
 * The process's one RGW, started on first use. Its `stop()` does nothing: the global teardown stops
 * it. A failed start is remembered, so every suite that needs RGW fails with the same message
 * instead of trying again.
 */
export async function sharedRgw(): Promise<S3TestServer> {
  shared ??= startRgw();
  const server = await shared;
  return { ...server, stop: async () => {} };
}

/** Stops the shared RGW if it was started (the mocha global teardown). */
export async function stopSharedRgw(): Promise<void> {
  const starting = shared;
  shared = undefined;
  if (starting === undefined) return;
  const server = await starting.catch(() => undefined);
  await server?.stop();
}

/** How long a suite's `before` should allow for `sharedRgw()`: the first call starts the cluster. */
export const RGW_START_TIMEOUT_MS = 150_000;

function cephConf(dir: string, fsid: string, ports: Ports): string {
  return `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${ports.mon}
mon initial members = a
public addr = 127.0.0.1
# without it the OSD binds its cluster and heartbeat sockets to 0.0.0.0
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
ms bind port min = ${ports.osdMin}
ms bind port max = ${ports.osdMax}
# no authentication on loopback, no keyrings; radosgw asks for "secure" mon connections by default,
# which auth none cannot give (it loops on "get_initial_auth_request returned -13"), so crc
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
keyring = /dev/null
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
pid file = ${dir}/run/$name.pid
log file = ${dir}/log/$name.log
crash dir = ${dir}/crash
# failures surface in 30 s rather than 300 s
client mount timeout = 30
rados mon op timeout = 30
# one OSD, one replica, few PGs, no mgr to autoscale them
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
# the mon shuts itself down below 5 % free disk by default
mon data avail warn = 2
mon data avail crit = 1
# each pool create is an osdmap commit; the default 1 s each makes the start slow
paxos propose interval = 0.1
[mon]
mon data = ${dir}/mon/$id
[osd]
osd data = ${dir}/osd/$id
osd objectstore = memstore
memstore device bytes = 4294967296
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${ports.rgw}
rgw data = ${dir}/rgw
# free aborted and deleted multipart data within minutes, not hours
rgw gc obj min wait = 60
rgw gc processor period = 60
`;
}

/**
 * A random block of 100 ports in 20000-29999 whose mon, rgw and first OSD ports are free now,
 * claimed with a lock file (`<tmp>/glint-rgw-ports-<base>.lock`, holding our PID) so that test
 * processes starting at the same moment never share a block: a ceph CLI pointed at a monitor port
 * that another cluster holds would talk to that cluster. A lock whose process is gone is taken over.
 */
async function claimPortBlock(): Promise<Ports> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + 100 * Math.floor(Math.random() * 100);
    const lock = join(tmpdir(), `glint-rgw-ports-${base}.lock`);
    if (!(await takeLock(lock))) continue;
    const ports = { mon: base, rgw: base + 1, osdMin: base + 10, osdMax: base + 99, lock };
    const probe = [ports.mon, ports.rgw];
    for (let port = ports.osdMin; port < ports.osdMin + 16; port++) probe.push(port);
    if ((await Promise.all(probe.map(isFree))).every(Boolean)) return ports;
    await rm(lock, { force: true });
  }
  throw new Error('no free block of 100 ports in 127.0.0.1:20000-29999');
}

async function takeLock(lock: string): Promise<boolean> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) return false;
    await rm(lock, { force: true });
  }
  return false;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function missingBinaries(): Promise<string[]> {
  const found = await Promise.all(
    BINARIES.map((name) =>
      run('/bin/sh', ['-c', 'command -v "$1"', 'sh', name]).then(
        () => true,
        () => false,
      ),
    ),
  );
  return BINARIES.filter((_, i) => !found[i]);
}

/**
 * Runs a command to completion with stdin from `input` (or nothing); resolves with its stdout.
 * With `log`, stdout and stderr go to that file instead (and the error names it).
 */
function run(command: string, args: string[], options: { input?: string; log?: string; timeoutMs?: number } = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const logFd = options.log === undefined ? undefined : openSync(options.log, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        stdio: [options.input === undefined ? 'ignore' : 'pipe', logFd ?? 'pipe', logFd ?? 'pipe'],
        env: CEPH_ENV,
      });
    } finally {
      if (logFd !== undefined) closeSync(logFd);
    }
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout);
      const why = signal === 'SIGKILL' ? `timed out after ${timeoutMs / 1000} s` : `exited with ${code ?? signal}`;
      const detail = options.log === undefined ? stderr.trim() : `see ${options.log}`;
      reject(new Error(`${command} ${args.join(' ')} ${why}: ${detail}`));
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
