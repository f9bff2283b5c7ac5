import { ListMultipartUploadsCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import * as path from 'node:path';
import { childPids, freePort, startGlintProcess, type GlintProcess } from './process';
import { deleteBucket, s3AdminClient, s3StoreIniLines, startS3Server, type S3TestServer } from './s3';
import { createTestDatabase, type TestDatabase } from './mysql';
import { randomData } from './random-data';

/**
 * The crash scenario of issue 16: SIGKILL a whole glint (primary and workers) while uploads are in
 * flight, start it again on the same catalog and stores, and wait until the reconciler has put
 * everything right: no image left in saving, no object or temporary no image owns, every active
 * image's data equal to what was sent and to its checksum, and every recovered image uploadable
 * again. Used by the integration test (small data) and the soak (1 GiB).
 */
export interface CrashScenario {
  /** A temp folder of the test's own: the config file, SQLite file and filesystem store go there. */
  dir: string;
  /** `sqlite` (a file in `dir`) or a MySQL/MariaDB URL. */
  database: string;
  /** A filesystem store in `dir`, or a bucket on an S3 server. */
  store: { type: 'file' } | { type: 's3'; server: S3TestServer; bucket: string };
  /** Uploads that finish before the kill. */
  finished: number;
  /** Uploads still streaming when the server is killed. */
  inFlight: number;
  /** Bytes per upload. */
  size: number;
  /** Bytes of each in-flight upload sent before the kill. */
  sentBeforeKill: number;
  /** The last `count` in-flight uploads are this small instead (S3: no multipart upload of their own). */
  small?: { count: number; size: number; sentBeforeKill: number };
  /** `[glint] write_lease_time` (default 1 s): long enough for renewals under the scenario's load. */
  leaseSeconds?: number;
  /** Longest wait for each stage (uploads saving, recovery…; default 60 s). */
  stageTimeoutMs?: number;
}

export interface CrashFigures {
  /** Images in saving right after the kill (what the crash left). */
  savingAfterKill: number;
  /** Temporaries (temp files or multipart uploads) and unowned objects right after the kill. */
  leftoversAfterKill: number;
  /** After recovery: images still in saving. */
  stuck: number;
  /** After recovery: objects and temporaries no active image owns. */
  orphans: number;
  active: number;
  queued: number;
  /** Active images whose data differs from what was sent or from its checksum. */
  corrupt: number;
  /** Milliseconds from the restart to a recovered state. */
  recoveryMs: number;
  /** Descriptors of the restarted server's processes after a round of cut uploads and downloads, minus before. */
  fdDelta: number;
}

const S3_PART_SIZE = 5 * 1024 * 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runCrashScenario(scenario: CrashScenario, log: (line: string) => void = () => {}): Promise<CrashFigures> {
  const port = await freePort();
  const conf = path.join(scenario.dir, 'glint.conf');
  writeFileSync(conf, configText(scenario, port));
  const total = scenario.finished + scenario.inFlight;
  const isSmall = (i: number) => scenario.small !== undefined && i >= total - scenario.small.count;
  const payloads = Array.from({ length: total }, (_, i) => randomData(isSmall(i) ? (scenario.small?.size ?? 0) : scenario.size));
  const sentOf = (i: number) => (isSmall(i) ? (scenario.small?.sentBeforeKill ?? 0) : scenario.sentBeforeKill);

  let glint = await startGlintProcess(['--config-file', conf], { cwd: scenario.dir, port });
  // no keep-alive: an idle connection would count as a descriptor of the server
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`${glint.url}${p}`, { ...init, headers: { ...(init.headers as Record<string, string>), Connection: 'close' }, signal: AbortSignal.timeout(stage) });
  const stage = scenario.stageTimeoutMs ?? 60_000;
  let killed = false;
  try {
    await waitFor(() => glint.output().includes('"glint listening"'), 30_000, 'the workers to listen');
    const ids: string[] = [];
    for (let i = 0; i < total; i++) {
      const res = await api('/v2/images', { method: 'POST', headers: { Connection: 'close' }, body: JSON.stringify({ name: `crash-${i}`, disk_format: 'raw', container_format: 'bare' }) });
      ids.push(((await res.json()) as { id: string }).id);
    }
    // the first uploads finish; the rest send part of their data and then stall until the kill
    for (let i = 0; i < scenario.finished; i++) {
      const res = await api(`/v2/images/${ids[i]}/file`, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', Connection: 'close' }, body: payloads[i] });
      if (res.status !== 204) throw new Error(`upload ${i} answered ${res.status}: ${await res.text()}`);
    }
    const stalled = ids.slice(scenario.finished).map((id, n) => stalledUpload(glint.url, id, payloads[scenario.finished + n].subarray(0, sentOf(scenario.finished + n))));
    await Promise.all(stalled.map((upload) => upload.sent));
    await waitFor(async () => (await countStatus(api, 'saving')) === scenario.inFlight, stage, 'every stalled upload to be saving');
    if (scenario.store.type === 's3' && scenario.sentBeforeKill > S3_PART_SIZE) {
      // past one part, each stalled upload has its multipart upload open before the kill
      const large = scenario.inFlight - (scenario.small?.count ?? 0);
      await waitFor(async () => (await unownedObjects(scenario, ids)).length >= large, stage, 'a multipart upload per large stalled upload');
    }
    log(`${scenario.finished} uploads done, ${scenario.inFlight} in flight: SIGKILL`);
    killAll(glint);
    killed = true;
    await waitFor(() => glint.child.exitCode !== null || glint.child.signalCode !== null, 10_000, 'the primary to die');
    for (const upload of stalled) upload.cancel();

    const savingAfterKill = scenario.inFlight;
    const leftoversAfterKill = (await unownedObjects(scenario, ids.slice(0, scenario.finished))).length;
    log(`after the kill: ${savingAfterKill} saving, ${leftoversAfterKill} temporaries or unowned objects`);

    const restarted = Date.now();
    glint = await startGlintProcess(['--config-file', conf], { cwd: scenario.dir, port });
    killed = false;
    await waitFor(() => glint.output().includes('"glint listening"'), 30_000, 'the restarted workers to listen');
    // recovered: nothing saving, and nothing in the store but the active images' data
    let state = await observe(api, scenario);
    for (const deadline = Date.now() + stage; state.stuck > 0 || state.orphans.length > 0; state = await observe(api, scenario)) {
      if (Date.now() > deadline) break;
      await sleep(200);
    }
    const recoveryMs = Date.now() - restarted;
    log(`recovered in ${recoveryMs} ms: ${state.stuck} stuck, ${state.orphans.length} orphans ${state.orphans.slice(0, 5).join(' ')}`);

    let corrupt = 0;
    for (const image of state.images) {
      if (image.status !== 'active') continue;
      const index = ids.indexOf(image.id);
      const res = await api(`/v2/images/${image.id}/file`);
      const body = Buffer.from(await res.arrayBuffer());
      const md5 = createHash('md5').update(body).digest('hex');
      if (res.status !== 200 || md5 !== image.checksum || !body.equals(payloads[index])) corrupt++;
    }
    log(`${state.images.filter((i) => i.status === 'active').length} active images checked, ${corrupt} corrupt`);

    // every recovered image takes its upload again; cut transfers leave no descriptor behind
    await Promise.all(
      state.images
        .filter((image) => image.status === 'queued')
        .map(async (image) => {
          const index = ids.indexOf(image.id);
          const res = await api(`/v2/images/${image.id}/file`, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: payloads[index] });
          if (res.status !== 204) throw new Error(`re-upload of ${image.id} answered ${res.status}: ${await res.text()}`);
        }),
    );
    // counted once the re-uploads have warmed the server up (hashing threads, store clients)
    const fdsBefore = processFds(glint);
    await cutTransfers(glint.url, ids.slice(0, scenario.finished));
    await waitFor(async () => (await countStatus(api, 'saving')) === 0, stage, 'cut uploads to be released');
    // the server closes a cut connection when it notices; give it until then
    await waitFor(() => processFds(glint) <= fdsBefore, 10_000, 'descriptors to come back').catch(() => undefined);
    const fdDelta = processFds(glint) - fdsBefore;
    const final = await observe(api, scenario);
    return {
      savingAfterKill,
      leftoversAfterKill,
      stuck: state.stuck,
      orphans: final.orphans.length + state.orphans.length,
      active: state.images.filter((i) => i.status === 'active').length,
      queued: state.images.filter((i) => i.status === 'queued').length,
      corrupt,
      recoveryMs,
      fdDelta,
    };
  } finally {
    if (!killed) await glint.stop();
  }
}

function configText(scenario: CrashScenario, port: number): string {
  const database = scenario.database === 'sqlite' ? `sqlite:///${path.join(scenario.dir, 'glint.db')}` : scenario.database;
  const store =
    scenario.store.type === 'file'
      ? `[glance_store]\ndefault_store = file\nfilesystem_store_datadir = ${path.join(scenario.dir, 'images')}\n`
      : `[glance_store]\ndefault_store = s3\n${s3StoreIniLines(scenario.store.server, scenario.store.bucket).join('\n')}\ns3_store_large_object_chunk_size = 5\n`;
  return (
    `[DEFAULT]\nbind_port = ${port}\nworkers = 2\n\n[database]\nconnection = ${database}\n\n${store}\n` +
    `[glint]\nshutdown_timeout = 1\nwrite_lease_time = ${scenario.leaseSeconds ?? 1}\nreconcile_interval = 1\norphan_grace_period = 1\n`
  );
}

/** An upload that sends `data` and then neither ends nor stops: a client mid-transfer. */
function stalledUpload(url: string, id: string, data: Buffer): { sent: Promise<void>; cancel(): void } {
  const req = httpRequest(`${url}/v2/images/${id}/file`, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Transfer-Encoding': 'chunked' } });
  req.on('error', () => undefined);
  let answer = '';
  req.on('response', (res) => {
    res.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    answer = `HTTP ${res.statusCode} `;
  });
  const sent = new Promise<void>((resolve, reject) =>
    req.write(data, (err) => (err ? reject(new Error(`upload of ${id} failed while sending (${answer || 'no answer'})`, { cause: err })) : resolve())),
  );
  return { sent, cancel: () => req.destroy() };
}

/** SIGKILL to the workers and the primary at once: nothing gets to clean up. */
function killAll(glint: GlintProcess): void {
  const primary = glint.child.pid as number;
  for (const pid of [...childPids(primary), primary]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

interface ObservedImage {
  id: string;
  status: string;
  checksum: string | null;
}

async function observe(api: (p: string) => Promise<Response>, scenario: CrashScenario): Promise<{ images: ObservedImage[]; stuck: number; orphans: string[] }> {
  const images = ((await (await api('/v2/images?limit=1000')).json()) as { images: ObservedImage[] }).images;
  const stuck = images.filter((i) => i.status === 'saving').length;
  const orphans = await unownedObjects(scenario, images.filter((i) => i.status === 'active').map((i) => i.id));
  return { images, stuck, orphans };
}

async function countStatus(api: (p: string) => Promise<Response>, status: string): Promise<number> {
  const res = await api(`/v2/images?status=${status}&limit=1000`);
  return ((await res.json()) as { images: unknown[] }).images.length;
}

/** Everything in the store but the data of `owned` images: temporaries and objects. */
async function unownedObjects(scenario: CrashScenario, owned: string[]): Promise<string[]> {
  const keep = new Set(owned);
  if (scenario.store.type === 'file') {
    const dataDir = path.join(scenario.dir, 'images');
    const temps = (await readdir(path.join(dataDir, '.tmp')).catch(() => [] as string[])).map((name) => `.tmp/${name}`);
    const objects = (await readdir(dataDir).catch(() => [] as string[])).filter((name) => name !== '.tmp' && !keep.has(name));
    return [...temps, ...objects];
  }
  const client = s3AdminClient(scenario.store.server);
  const { bucket } = scenario.store;
  try {
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket })).catch((err: Error) => {
      if (err.name === 'NoSuchBucket') return { Uploads: [] };
      throw err;
    });
    const found = (uploads.Uploads ?? []).map((u) => `multipart ${u.Key}`);
    try {
      for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket })) {
        for (const object of page.Contents ?? []) if (object.Key && !keep.has(object.Key)) found.push(object.Key);
      }
    } catch (err) {
      if ((err as Error).name !== 'NoSuchBucket') throw err;
    }
    return found;
  } finally {
    client.destroy();
  }
}

/** Uploads cut after a few KiB (to fresh images) and downloads cut after the first bytes. */
async function cutTransfers(url: string, activeIds: string[]): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const created = await fetch(`${url}/v2/images`, { method: 'POST', headers: { Connection: 'close' }, body: JSON.stringify({ name: `cut-${i}`, disk_format: 'raw', container_format: 'bare' }) });
    const { id } = (await created.json()) as { id: string };
    const upload = stalledUpload(url, id, randomData(64 * 1024));
    await upload.sent;
    await sleep(50);
    upload.cancel();
  }
  for (const id of activeIds.slice(0, 10)) await cutDownload(url, id);
}

/** Reads the first chunk of an image's download from the server at `baseUrl`, then drops the connection. */
export function cutDownload(baseUrl: string, id: string): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(`${baseUrl}/v2/images/${id}/file`, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
      res.once('end', resolve);
    });
    req.on('error', () => resolve());
    req.end();
  });
}

/**
 * Open descriptors of the glint processes (primary and workers) that a client transfer could
 * leak: files, pipes and the like, and connections accepted on glint's port. Connections glint
 * opens itself (its database pool, the S3 client's keep-alive sockets) come and go with load
 * and are not counted.
 */
export function processFds(glint: GlintProcess): number {
  const primary = glint.child.pid as number;
  const port = Number(new URL(glint.url).port);
  let count = 0;
  for (const pid of [primary, ...childPids(primary)]) {
    try {
      const served = servedSocketInodes(pid, port);
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        let target: string;
        try {
          target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        const socket = /^socket:\[(\d+)\]$/.exec(target);
        if (!socket || served.has(socket[1])) count++;
      }
    } catch {
      // gone
    }
  }
  return count;
}

/** Inodes of the TCP sockets of `pid`'s network namespace whose local port is `port`. */
function servedSocketInodes(pid: number, port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const localPort = parseInt(fields[1].split(':')[1] ?? '', 16);
      if (localPort === port) inodes.add(fields[9]);
    }
  }
  return inodes;
}


async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** What every crash run must show after the restart: the kill left uploads in saving, and now nothing is stuck, orphaned or corrupt. */
export function assertRecovered(figures: CrashFigures, total: number): void {
  assert.ok(figures.savingAfterKill > 0, 'the kill left uploads in saving');
  assert.equal(figures.stuck, 0, 'images still in saving after the lease window');
  assert.equal(figures.orphans, 0, 'objects or temporaries no image owns');
  assert.equal(figures.corrupt, 0, 'active images whose data differs from what was sent');
  assert.equal(figures.active + figures.queued, total);
  assert.ok(figures.fdDelta <= 0, `the server holds ${figures.fdDelta} more descriptors after cut transfers`);
}

export interface MariaDbAndS3 {
  readonly database: TestDatabase;
  readonly server: S3TestServer;
  readonly bucket: string;
}

/**
 * Hooks on the enclosing describe: a fresh MariaDB database and an s3rver before its tests, the
 * bucket (named `<prefix>-<random>`) and the database removed after them.
 */
export function useMariaDbAndS3(bucketPrefix: string): MariaDbAndS3 {
  const fixture = { bucket: `${bucketPrefix}-${randomBytes(3).toString('hex')}` } as { database: TestDatabase; server: S3TestServer; bucket: string };
  before(async function () {
    this.timeout(60_000);
    fixture.database = await createTestDatabase();
    fixture.server = await startS3Server();
  });
  after(async function () {
    const { server, database } = fixture as Partial<MariaDbAndS3>;
    if (server) {
      const admin = s3AdminClient(server);
      await deleteBucket(admin, fixture.bucket).catch(() => undefined);
      admin.destroy();
      await server.stop();
    }
    await database?.drop();
  });
  return fixture;
}
