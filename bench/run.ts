/**
 * `npm run bench [-- --quick] [--profile] [--only=io,api,list,big,s3,algo,edgegallery] [--runs=N] [--seconds=N] [--no-install] [--no-build] [--keep]`
 *
 * Starts everything it compares on loopback, measures in one run, prints a table (metric, glint,
 * reference, ratio, goal, PASS/FAIL) and writes it with every run's figures to
 * bench/results/<timestamp>.json. Exits 1 when a goal fails or glint cannot be measured.
 *
 * - glint: `node dist/src/main.js` (built first), file store + SQLite; then the same on an S3 store
 *   backed by s3rver. A fresh glint process per phase, so each RSS figure is its phase's own.
 * - references: nginx (sendfile) serving the same blob; Debian's glance-api (no auth, SQLite, file
 *   store); node's single-core sha512 and md5 over the same bytes; the same bytes written and
 *   fdatasynced to the disk glint stores on; lib-storage straight to the same s3rver; and floors,
 *   what the stack allows before glint's own work: for uploads, bare node:http through glint's
 *   two hash threads with the bytes dropped (bench/put-floor-child.ts); for small GETs, a bare
 *   Koa + @koa/router route serving 4 KiB from memory, and the same route reading the image's
 *   catalog row and its file (bench/koa-floor-child.ts).
 * - every wrk target gets an unmeasured warm-up run first (JIT, caches, connections).
 * - clients run in their own processes: curl (uploads from the blob file, downloads to /dev/null),
 *   wrk (request rates, 32 connections), bench/s3-client.ts (direct S3).
 * - `--profile`: every glint scenario once, each in its own process under `node --cpu-prof`, no
 *   references; prints the top self-time functions per scenario (figures are not comparable).
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { algoPhase, algoRows, newAlgoMeasurements, type AlgoMeasurements } from './algoplatform';
import { makeBlob } from './data';
import { edgeGalleryPhase, edgeGalleryRows, newEdgeGalleryMeasurements, type EdgeGalleryMeasurements } from './edgegallery';
import { buildGlint, glintSourceState, REPO_ROOT, startGlint, type Glint, type GlintStore } from './glint';
import { ensurePackages } from './install';
import { createImage, curlDownload, curlUpload, deleteImage, prepareLoad, requestJson, wrk, type WrkResult } from './load';
import { renderProfile, summarizeProfile, type ProfileSummary } from './profile';
import { flushDirtyPages, sampleRss, stopAll } from './proc';
import { durableWriteSpeed, hashSpeed, startGlance, startKoaFloor, startNginx, startPutFloor, type Reference } from './references';
import { s3Direct, startS3rver, type S3Reference } from './s3';
import { seedCatalog } from './seed';
import { makeRow, median, renderTable, type Row } from './table';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const MB = 1e6;
const PHASES = ['io', 'api', 'list', 'big', 's3', 'algo', 'edgegallery'] as const;
type Phase = (typeof PHASES)[number];

interface Settings {
  quick: boolean;
  profile: boolean;
  size: number;
  bigSize: number;
  runs: number;
  loadSeconds: number;
  /** An unmeasured wrk run against each target before its measured runs. */
  warmUpSeconds: number;
  connections: number;
  listImages: number;
  phases: Set<Phase>;
  install: boolean;
  build: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Settings {
  const has = (flag: string) => argv.includes(flag);
  const known = ['--quick', '--profile', '--no-install', '--no-build', '--keep'];
  const valued = ['--only=', '--runs=', '--seconds='];
  const value = (prefix: string) => argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
  const only = value('--only=');
  for (const a of argv) {
    if (!known.includes(a) && !valued.some((v) => a.startsWith(v))) {
      throw new Error(`unknown argument ${a}; known: ${known.join(' ')} --only=${PHASES.join(',')} --runs=N --seconds=N`);
    }
  }
  const positive = (prefix: string) => {
    const raw = value(prefix);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${prefix}${raw}: expected a positive integer`);
    return n;
  };
  const phases = new Set<Phase>(only ? (only.split(',') as Phase[]) : PHASES);
  for (const p of phases) if (!PHASES.includes(p)) throw new Error(`--only: unknown phase ${p} (${PHASES.join(', ')})`);
  const quick = has('--quick');
  const profile = has('--profile');
  return {
    quick,
    profile,
    size: quick ? 64 * MiB : GiB,
    bigSize: quick ? 256 * MiB : 4 * GiB,
    runs: positive('--runs=') ?? (quick || profile ? 1 : 3),
    loadSeconds: positive('--seconds=') ?? (quick ? 2 : 10),
    warmUpSeconds: quick ? 1 : 3,
    connections: 32,
    listImages: quick ? 10_000 : 100_000,
    phases,
    install: !has('--no-install'),
    build: !has('--no-build'),
    keep: has('--keep'),
  };
}

function sizeLabel(bytes: number): string {
  return bytes >= GiB ? `${bytes / GiB} GiB` : `${bytes / MiB} MiB`;
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Everything measured, run by run; rows are built from it at the end. */
interface Measurements {
  sha512: number[];
  md5: number[];
  durableWrite: number[];
  put: { glint: number[]; glance: number[]; floor: number[] };
  get: { glint: number[]; nginx: number[]; glance: number[] };
  range: { glint: number[]; nginx: number[]; koaFloor: number[]; downloadFloor: number[] };
  show: { glint: number[]; glance: number[] };
  list: { glint: number[] };
  rss: { idle: number[]; small: number[]; big: number[]; smallSampled: number[]; bigSampled: number[]; s3: number[] };
  s3: { glintPut: number[]; directPut: number[]; glintGet: number[]; directGet: number[] };
  algo: AlgoMeasurements;
  edgegallery: EdgeGalleryMeasurements;
  wrk: Record<string, WrkResult[]>;
  notes: string[];
  /** Scenarios that failed for glint, with the error. */
  failures: Record<string, string>;
  profiles: Array<{ scenario: string; summary: ProfileSummary }>;
  seedSeconds?: number;
  /** 1-minute load average when each scenario started: other work on the machine skews figures. */
  loadAverages: Record<string, number>;
}

interface Context {
  settings: Settings;
  tmp: string;
  blob: string;
  blobMd5: string | null;
  blobSha512: string | null;
  nginx: Reference | null;
  glance: Reference | null;
  koaFloor: Reference | null;
  putFloor: Reference | null;
  s3: S3Reference | null;
  m: Measurements;
  refErrors: Record<string, string>;
  profileDir: string | null;
}

async function main(): Promise<number> {
  const settings = parseArgs(process.argv.slice(2));
  const started = new Date();
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const tmp = mkdtempSync(join(tmpdir(), 'glint-bench-'));
  // nginx workers (and glance-api, were it to drop privileges) must be able to read the blobs
  chmodSync(tmp, 0o755);
  const resultsDir = join(REPO_ROOT, 'bench/results');
  const m: Measurements = {
    sha512: [],
    md5: [],
    durableWrite: [],
    put: { glint: [], glance: [], floor: [] },
    get: { glint: [], nginx: [], glance: [] },
    range: { glint: [], nginx: [], koaFloor: [], downloadFloor: [] },
    show: { glint: [], glance: [] },
    list: { glint: [] },
    rss: { idle: [], small: [], big: [], smallSampled: [], bigSampled: [], s3: [] },
    s3: { glintPut: [], directPut: [], glintGet: [], directGet: [] },
    algo: newAlgoMeasurements(),
    edgegallery: newEdgeGalleryMeasurements(),
    wrk: {},
    notes: [],
    failures: {},
    profiles: [],
    loadAverages: {},
  };
  const cpuAtStart = cpuTimes();
  const refErrors: Record<string, string> = {};
  let installNotes: string[] = [];
  let versions: Record<string, string> = {};
  let fatal: string | null = null;
  let source: { commit: string; uncommitted: string[] } = { commit: 'unknown', uncommitted: [] };

  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping children and removing ${tmp}`);
    void stopAll({ final: true }).finally(() => {
      if (!settings.keep) rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  log(`${settings.quick ? 'QUICK' : 'full'}${settings.profile ? ' PROFILE' : ''} run in ${tmp}`);
  try {
    const install = await ensurePackages({ allowInstall: settings.install });
    installNotes = install.notes;
    versions = install.versions;
    for (const note of install.notes) log(note);
    for (const [pkg, why] of install.missing) {
      log(`missing ${pkg}: ${why}`);
      if (pkg === 'nginx-light') refErrors.nginx = why;
      if (pkg === 'glance-api') refErrors.glance = why;
      if (pkg === 'curl' || pkg === 'wrk') throw new Error(`${pkg} is required to measure glint: ${why}`);
    }
    source = await glintSourceState();
    if (settings.build) {
      log(`npm run build (glint ${source.commit}${source.uncommitted.length ? `, uncommitted: ${source.uncommitted.join(', ')}` : ''})`);
      await buildGlint();
    }
    prepareLoad(tmp);
    const blobDir = join(tmp, 'blobs');
    mkdirSync(blobDir);
    const blob = join(blobDir, 'blob');
    log(`writing a ${sizeLabel(settings.size)} blob`);
    const { md5 } = makeBlob(blob, settings.size);

    const ctx: Context = { settings, tmp, blob, blobMd5: md5, blobSha512: null, nginx: null, glance: null, koaFloor: null, putFloor: null, s3: null, m, refErrors, profileDir: null };
    if (settings.profile) ctx.profileDir = join(resultsDir, `profile-${stamp}`);

    if (!settings.profile && settings.phases.has('io')) {
      log('sha512 and md5 single-core speeds');
      for (let r = 0; r < settings.runs; r++) {
        const sha512 = await hashSpeed(blob, 'sha512');
        m.sha512.push(sha512.bytes / MiB / sha512.seconds);
        ctx.blobSha512 = sha512.digest;
        const md5 = await hashSpeed(blob, 'md5');
        m.md5.push(md5.bytes / MiB / md5.seconds);
      }
      log('durable write speed of the disk glint stores on');
      for (let r = 0; r < settings.runs; r++) {
        const write = await durableWriteSpeed(blob, join(tmp, 'durable-write'));
        m.durableWrite.push(write.bytes / MiB / write.seconds);
      }
    }
    if (!settings.profile && (settings.phases.has('io') || settings.phases.has('api'))) {
      if (!refErrors.nginx) ctx.nginx = await startReference('nginx', () => startNginx(join(tmp, 'nginx'), blobDir), refErrors);
      if (!refErrors.glance) ctx.glance = await startReference('glance', () => startGlance(join(tmp, 'glance')), refErrors);
    }
    if (!settings.profile && settings.phases.has('io')) {
      ctx.putFloor = await startReference('put-floor', () => startPutFloor(join(tmp, 'put-floor'), md5), refErrors);
    }
    if (!settings.profile && settings.phases.has('api')) {
      ctx.koaFloor = await startReference('koa-floor', () => startKoaFloor(join(tmp, 'koa-floor'), settings.size), refErrors);
    }

    if (settings.profile) await profileScenarios(ctx);
    else {
      if (settings.phases.has('io') || settings.phases.has('api')) await fileStorePhases(ctx);
      if (settings.phases.has('list')) await guarded(ctx, 'list', () => listPhase(ctx));
      if (settings.phases.has('big')) await guarded(ctx, 'big', () => bigPhase(ctx));
      if (settings.phases.has('s3')) await guarded(ctx, 's3', () => s3Phase(ctx));
      if (settings.phases.has('algo')) await guarded(ctx, 'algo', () => runAlgoPhase(ctx));
      if (settings.phases.has('edgegallery')) await guarded(ctx, 'edgegallery', () => runEdgeGalleryPhase(ctx));
    }
  } catch (err) {
    fatal = (err as Error).stack ?? String(err);
    log(`fatal: ${fatal}`);
  } finally {
    await stopAll();
    if (settings.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }

  const cpuAtEnd = cpuTimes();
  const cpuTotal = cpuAtEnd.total - cpuAtStart.total;
  const stealPercent = cpuTotal > 0 ? (100 * (cpuAtEnd.steal - cpuAtStart.steal)) / cpuTotal : 0;
  const busy = Object.entries(m.loadAverages).filter(([, v]) => v > 1.5);
  const environment =
    `machine during the run: CPU steal ${stealPercent.toFixed(1)} %` +
    `, 1-min load at scenario starts ${Object.entries(m.loadAverages).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ') || 'n/a'}` +
    (busy.length ? ' — WARNING: other work was running on this machine; figures are skewed' : '');
  const rows = buildRows(settings, m, refErrors);
  const title = `glint bench — ${started.toISOString()} — ${settings.quick ? 'QUICK (smoke: small sizes, 1 run, 2 s loads; not the figures the goals are about)' : 'full'}${settings.profile ? ' — PROFILED (figures under --cpu-prof, not comparable)' : ''}`;
  const table = renderTable(rows);
  const code = `glint ${source.commit}${source.uncommitted.length ? ` + uncommitted changes in ${source.uncommitted.map((l) => l.replace(/^\S+\s+/, '')).join(', ')}` : ' (clean src/)'}`;
  process.stdout.write(`\n${title}\n${cpus().length} cores, ${(totalmem() / GiB).toFixed(0)} GiB, node ${process.version}; ${code}; sizes ${sizeLabel(settings.size)} / ${sizeLabel(settings.bigSize)}, ${settings.runs} run(s) each (median), loads ${settings.loadSeconds} s × ${settings.connections} connections\n${environment}\n\n${table}\n`);
  for (const [name, why] of Object.entries(refErrors)) process.stdout.write(`\nreference ${name} unavailable: ${why.split('\n')[0]}\n`);
  for (const [name, why] of Object.entries(m.failures)) process.stdout.write(`\nglint scenario ${name} failed: ${why.split('\n').slice(0, 3).join(' / ')}\n`);
  for (const note of m.notes) process.stdout.write(`note: ${note}\n`);
  for (const p of m.profiles) process.stdout.write(`\n${renderProfile(p.summary, p.scenario)}\n`);
  if (fatal) process.stdout.write(`\nFATAL: ${fatal.split('\n')[0]}\n`);

  mkdirSync(resultsDir, { recursive: true });
  const resultFile = join(resultsDir, `${stamp}.json`);
  writeFileSync(
    resultFile,
    `${JSON.stringify(
      {
        date: started.toISOString(),
        finished: new Date().toISOString(),
        quick: settings.quick,
        profile: settings.profile,
        settings: { ...settings, phases: [...settings.phases] },
        machine: { cores: cpus().length, model: cpus()[0]?.model, memoryBytes: totalmem(), stealPercent, environment },
        versions,
        source,
        install: installNotes,
        references: Object.fromEntries(['nginx', 'glance', 's3rver'].map((r) => [r, refErrors[r] ? { available: false, error: refErrors[r] } : { available: true }])),
        rows,
        measurements: m,
        fatal,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`\nwritten ${resultFile} (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)\n`);
  const failed = rows.some((r) => r.status === 'FAIL') || fatal !== null;
  return failed ? 1 : 0;
}

/** Aggregate CPU jiffies from /proc/stat: total and steal (time the hypervisor gave to others). */
function cpuTimes(): { total: number; steal: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: fields.slice(0, 8).reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
  } catch {
    return { total: 0, steal: 0 };
  }
}

async function startReference<T>(name: string, start: () => Promise<T>, refErrors: Record<string, string>): Promise<T | null> {
  log(`starting ${name}`);
  try {
    return await start();
  } catch (err) {
    refErrors[name] = (err as Error).message;
    log(`${name} could not start (its ratios will be n/a):\n${(err as Error).message}`);
    return null;
  }
}

/** Runs a glint scenario; a failure is recorded (its rows FAIL) and the bench goes on. */
async function guarded(ctx: Context, name: string, work: () => Promise<void>): Promise<void> {
  ctx.m.loadAverages[name] = loadavg()[0];
  try {
    await work();
  } catch (err) {
    ctx.m.failures[name] = (err as Error).stack ?? String(err);
    log(`scenario ${name} failed: ${(err as Error).message}`);
  }
}

/** Starts a glint for `work` and always stops it; the glint log is attached to any failure. */
async function withGlint<T>(ctx: Context, name: string, store: GlintStore, work: (glint: Glint) => Promise<T>, database?: string): Promise<T> {
  const dir = join(ctx.tmp, `glint-${name}`);
  // Profiles: one process, so that one profile holds the whole scenario.
  const profileDir = ctx.profileDir ? join(ctx.profileDir, name) : undefined;
  const glint = await startGlint({ dir, store, database, cpuProfileDir: profileDir, workers: profileDir ? 0 : undefined });
  const window = { fromUs: monotonicUs(), toUs: Infinity };
  try {
    return await work(glint);
  } catch (err) {
    (err as Error).message += `\nglint log (${glint.service.logFile}):\n${glint.service.tail(15)}`;
    throw err;
  } finally {
    window.toUs = monotonicUs();
    await glint.stop();
    if (ctx.profileDir) collectProfile(ctx, name, window);
  }
}

function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Summarises the scenario's profile, leaving out glint's start-up and shutdown. */
function collectProfile(ctx: Context, name: string, window: { fromUs: number; toUs: number }): void {
  const dir = join(ctx.profileDir as string, name);
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) {
    ctx.m.notes.push(`no CPU profile written for ${name}`);
    return;
  }
  ctx.m.profiles.push({ scenario: name, summary: summarizeProfile(join(dir, files[0]), 25, window) });
}

// ---- scenarios --------------------------------------------------------------------------------

/** PUT the blob `runs` times to fresh images; returns the ids. Glance runs interleaved when given. */
async function putRuns(ctx: Context, glint: Glint, into: number[], glance: Reference | null): Promise<{ glintIds: string[]; glanceIds: string[] }> {
  const glintIds: string[] = [];
  const glanceIds: string[] = [];
  for (let r = 0; r < ctx.settings.runs; r++) {
    const id = await createImage(glint.url, `bench-put-${r}`);
    await flushDirtyPages();
    const t = await curlUpload(`${glint.url}/v2/images/${id}/file`, ctx.blob);
    into.push(t.rate);
    glintIds.push(id);
    log(`  PUT glint  ${t.rate.toFixed(0)} MiB/s`);
    if (ctx.putFloor) {
      try {
        await flushDirtyPages();
        const f = await curlUpload(`${ctx.putFloor.url}/put-floor`, ctx.blob);
        if (f.bytes !== ctx.settings.size) throw new Error(`uploaded ${f.bytes} bytes`);
        ctx.m.put.floor.push(f.rate);
        log(`  PUT floor  ${f.rate.toFixed(0)} MiB/s`);
      } catch (err) {
        ctx.m.notes.push(`PUT floor run ${r} failed: ${(err as Error).message}`);
      }
    }
    if (glance) {
      try {
        const gid = await createImage(glance.url, `bench-put-${r}`);
        await flushDirtyPages();
        const g = await curlUpload(`${glance.url}/v2/images/${gid}/file`, ctx.blob);
        ctx.m.put.glance.push(g.rate);
        glanceIds.push(gid);
        log(`  PUT glance ${g.rate.toFixed(0)} MiB/s`);
      } catch (err) {
        ctx.m.notes.push(`Glance PUT run ${r} failed: ${(err as Error).message}`);
      }
    }
  }
  return { glintIds, glanceIds };
}

async function verifyImage(ctx: Context, glint: Glint, id: string): Promise<void> {
  const res = await requestJson('GET', `${glint.url}/v2/images/${id}`);
  const image = res.json as { status?: string; size?: number; checksum?: string; os_hash_value?: string };
  const problems: string[] = [];
  if (image.status !== 'active') problems.push(`status ${image.status}`);
  if (image.size !== ctx.settings.size) problems.push(`size ${image.size}`);
  if (ctx.blobMd5 && image.checksum !== ctx.blobMd5) problems.push(`checksum ${image.checksum} ≠ ${ctx.blobMd5}`);
  if (ctx.blobSha512 && image.os_hash_value !== ctx.blobSha512) problems.push('os_hash_value differs from sha512 of the blob');
  if (problems.length) throw new Error(`image ${id} after upload: ${problems.join(', ')}`);
}

async function getRuns(ctx: Context, glint: Glint, id: string, refs: { nginx: Reference | null; glance: Reference | null; glanceId?: string }): Promise<void> {
  for (let r = 0; r < ctx.settings.runs; r++) {
    const t = await curlDownload(`${glint.url}/v2/images/${id}/file`);
    if (t.bytes !== ctx.settings.size) throw new Error(`glint GET returned ${t.bytes} bytes`);
    ctx.m.get.glint.push(t.rate);
    log(`  GET glint  ${t.rate.toFixed(0)} MiB/s`);
    if (refs.nginx) {
      try {
        const n = await curlDownload(`${refs.nginx.url}/blob`);
        ctx.m.get.nginx.push(n.rate);
        log(`  GET nginx  ${n.rate.toFixed(0)} MiB/s`);
      } catch (err) {
        ctx.m.notes.push(`nginx GET run ${r} failed: ${(err as Error).message}`);
      }
    }
    if (refs.glance && refs.glanceId) {
      try {
        const g = await curlDownload(`${refs.glance.url}/v2/images/${refs.glanceId}/file`);
        ctx.m.get.glance.push(g.rate);
        log(`  GET glance ${g.rate.toFixed(0)} MiB/s`);
      } catch (err) {
        ctx.m.notes.push(`Glance GET run ${r} failed: ${(err as Error).message}`);
      }
    }
  }
}

/** One wrk run; a run with errors on over 1 % of requests gives no figure. */
async function load(ctx: Context, key: string, url: string, rangeOf?: number): Promise<number | null> {
  let result: WrkResult;
  try {
    result = await wrk({ url, connections: ctx.settings.connections, seconds: ctx.settings.loadSeconds, rangeOf });
  } catch (err) {
    // a reference that breaks down loses its figure; glint's own failure fails its scenario
    if (key.endsWith('-glint')) throw err;
    ctx.m.notes.push(`${key}: ${(err as Error).message}`);
    return null;
  }
  (ctx.m.wrk[key] ??= []).push(result);
  log(`  ${key.padEnd(14)} ${result.reqPerSec.toFixed(0)} req/s  p50 ${result.p50Ms.toFixed(1)} ms  p99 ${result.p99Ms.toFixed(1)} ms${result.errors ? `  errors: ${result.errorDetail}` : ''}`);
  if (result.errors > result.requests * 0.01) {
    ctx.m.notes.push(`${key}: run discarded, ${result.errorDetail} of ${result.requests} requests`);
    return null;
  }
  return result.reqPerSec;
}

/** Load that is not measured, so that no target's first measured run pays for JIT and cold caches. */
async function warmUp(ctx: Context, key: string, url: string, rangeOf?: number): Promise<void> {
  const result = await wrk({ url, connections: ctx.settings.connections, seconds: ctx.settings.warmUpSeconds, rangeOf }).catch(() => null);
  log(`  ${key.padEnd(14)} warm-up${result ? ` ${result.reqPerSec.toFixed(0)} req/s` : ' failed'} (not counted)`);
}

/** wrk targets measured in turn, run by run, each warmed up first. */
async function interleavedLoads(ctx: Context, targets: Array<{ key: string; url: string; into: number[] }>, rangeOf?: number): Promise<void> {
  for (const target of targets) await warmUp(ctx, target.key, target.url, rangeOf);
  for (let r = 0; r < ctx.settings.runs; r++) {
    for (const target of targets) {
      const rate = await load(ctx, target.key, target.url, rangeOf);
      if (rate !== null) target.into.push(rate);
    }
  }
}

async function rangeRuns(ctx: Context, glint: Glint, id: string, refs: { nginx: Reference | null; koaFloor: Reference | null; downloadFloor: Reference | null }): Promise<void> {
  const probe = await fetch(`${glint.url}/v2/images/${id}/file`, { headers: { Range: 'bytes=4096-8191' } });
  const body = Buffer.from(await probe.arrayBuffer());
  if (probe.status !== 206 || body.length !== 4096) throw new Error(`glint Range probe: HTTP ${probe.status}, ${body.length} bytes`);
  const { range } = ctx.m;
  const file = `/v2/images/${id}/file`;
  await interleavedLoads(
    ctx,
    [
      ...(refs.nginx ? [{ key: 'range-nginx', url: `${refs.nginx.url}/blob`, into: range.nginx }] : []),
      ...(refs.koaFloor ? [{ key: 'range-koa-floor', url: `${refs.koaFloor.url}${file}`, into: range.koaFloor }] : []),
      ...(refs.downloadFloor ? [{ key: 'range-dl-floor', url: `${refs.downloadFloor.url}${file}`, into: range.downloadFloor }] : []),
      { key: 'range-glint', url: `${glint.url}${file}`, into: range.glint },
    ],
    ctx.settings.size,
  );
}

async function showRuns(ctx: Context, glint: Glint, id: string, glance: Reference | null, glanceId: string | undefined): Promise<void> {
  await interleavedLoads(ctx, [
    { key: 'show-glint', url: `${glint.url}/v2/images/${id}`, into: ctx.m.show.glint },
    ...(glance && glanceId ? [{ key: 'show-glance', url: `${glance.url}/v2/images/${glanceId}`, into: ctx.m.show.glance }] : []),
  ]);
}

/** io: PUT + GET (+ peak RSS) in one fresh glint; api: Range GETs and image GETs in another. */
async function fileStorePhases(ctx: Context): Promise<void> {
  const { settings, m } = ctx;
  const store: GlintStore = { type: 'file', dataDir: join(ctx.tmp, 'glint-file', 'images') };
  const database = join(ctx.tmp, 'glint-file', 'glint.db');
  let keepId: string | undefined;
  let glanceId: string | undefined;

  if (settings.phases.has('io')) {
    await guarded(ctx, 'io', () =>
      withGlint(ctx, 'file', store, async (glint) => {
        m.rss.idle.push(glint.memory().rss / MB);
        const sampler = sampleRss(glint.pid);
        log(`PUT/GET ${sizeLabel(settings.size)} ×${settings.runs} (glint file store${ctx.glance ? ', Glance interleaved' : ''}); RSS at rest ${(glint.memory().rss / MB).toFixed(1)} MB`);
        const { glintIds, glanceIds } = await putRuns(ctx, glint, m.put.glint, ctx.glance);
        await verifyImage(ctx, glint, glintIds[glintIds.length - 1]);
        keepId = glintIds[glintIds.length - 1];
        glanceId = glanceIds[glanceIds.length - 1];
        await getRuns(ctx, glint, keepId, { nginx: ctx.nginx, glance: ctx.glance, glanceId });
        m.rss.smallSampled.push(sampler.stop() / MB);
        m.rss.small.push(glint.memory().hwm / MB);
        const memory = glint.memory();
        log(`  peak RSS (VmHWM) ${(memory.hwm / MB).toFixed(1)} MB in the largest of ${memory.processes} glint processes; now ${(memory.totalRss / MB).toFixed(1)} MB in all`);
        for (const id of glintIds.slice(0, -1)) await deleteImage(glint.url, id);
        if (ctx.glance) for (const id of glanceIds.slice(0, -1)) await deleteImage(ctx.glance.url, id).catch(() => undefined);
      }, database),
    );
  }
  if (settings.phases.has('api')) {
    await guarded(ctx, 'api', () =>
      withGlint(ctx, 'file', store, async (glint) => {
        if (!keepId) {
          keepId = await createImage(glint.url, 'bench-api');
          await curlUpload(`${glint.url}/v2/images/${keepId}/file`, ctx.blob);
        }
        if (ctx.glance && !glanceId) glanceId = await createImage(ctx.glance.url, 'bench-api');
        const imageId = keepId;
        const downloadFloor = await startReference('download-floor', () => startKoaFloor(join(ctx.tmp, 'download-floor'), settings.size, { catalog: database, dataDir: store.dataDir, imageId }), ctx.refErrors);
        try {
          log(`4 KiB Range GETs, ${settings.connections} connections, ${settings.loadSeconds} s ×${settings.runs}`);
          await rangeRuns(ctx, glint, imageId, { nginx: ctx.nginx, koaFloor: ctx.koaFloor, downloadFloor });
        } finally {
          await downloadFloor?.stop();
        }
        log(`GET /v2/images/{id}, ${settings.connections} connections, ${settings.loadSeconds} s ×${settings.runs}`);
        await showRuns(ctx, glint, keepId, ctx.glance, glanceId);
      }, database),
    );
  }
}

async function listPhase(ctx: Context): Promise<void> {
  const dir = join(ctx.tmp, 'glint-list');
  mkdirSync(dir, { recursive: true });
  const database = join(dir, 'glint.db');
  log(`seeding ${ctx.settings.listImages.toLocaleString('en-US')} images`);
  const seeded = await seedCatalog(database, ctx.settings.listImages);
  ctx.m.seedSeconds = seeded.seconds;
  log(`  seeded in ${seeded.seconds.toFixed(1)} s`);
  await withGlint(ctx, 'list', { type: 'file', dataDir: join(dir, 'images') }, async (glint) => {
    const probe = await requestJson('GET', `${glint.url}/v2/images?limit=20`);
    const images = (probe.json as { images?: unknown[] }).images;
    if (probe.status !== 200 || images?.length !== 20) throw new Error(`GET /v2/images?limit=20: HTTP ${probe.status}, ${images?.length} images`);
    log(`GET /v2/images?limit=20, ${ctx.settings.connections} connections, ${ctx.settings.loadSeconds} s ×${ctx.settings.runs}`);
    await interleavedLoads(ctx, [{ key: 'list-glint', url: `${glint.url}/v2/images?limit=20`, into: ctx.m.list.glint }]);
  }, database);
}

async function bigPhase(ctx: Context): Promise<void> {
  const { settings, m } = ctx;
  const big = join(ctx.tmp, 'blobs', 'big');
  log(`writing a ${sizeLabel(settings.bigSize)} blob`);
  makeBlob(big, settings.bigSize, { md5: false });
  try {
    await withGlint(ctx, 'big', { type: 'file', dataDir: join(ctx.tmp, 'glint-big', 'images') }, async (glint) => {
      const sampler = sampleRss(glint.pid);
      log(`PUT + GET ${sizeLabel(settings.bigSize)} for peak RSS`);
      const id = await createImage(glint.url, 'bench-big');
      const put = await curlUpload(`${glint.url}/v2/images/${id}/file`, big);
      const get = await curlDownload(`${glint.url}/v2/images/${id}/file`);
      if (get.bytes !== settings.bigSize) throw new Error(`GET returned ${get.bytes} bytes`);
      m.rss.bigSampled.push(sampler.stop() / MB);
      m.rss.big.push(glint.memory().hwm / MB);
      m.notes.push(`${sizeLabel(settings.bigSize)}: PUT ${put.rate.toFixed(0)} MiB/s, GET ${get.rate.toFixed(0)} MiB/s`);
      log(`  PUT ${put.rate.toFixed(0)} MiB/s, GET ${get.rate.toFixed(0)} MiB/s, peak RSS ${(glint.memory().hwm / MB).toFixed(1)} MB`);
      await deleteImage(glint.url, id);
    });
  } finally {
    rmSync(big, { force: true });
    rmSync(join(ctx.tmp, 'glint-big'), { recursive: true, force: true });
  }
}

async function s3Phase(ctx: Context): Promise<void> {
  const { settings, m } = ctx;
  const dir = join(ctx.tmp, 's3rver');
  mkdirSync(dir, { recursive: true });
  const s3 = await startReference('s3rver', () => startS3rver(dir), ctx.refErrors);
  if (!s3) throw new Error(`s3rver could not start: ${ctx.refErrors.s3rver}`);
  ctx.s3 = s3;
  try {
    const store: GlintStore = { type: 's3', endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'glance' };
    await withGlint(ctx, 's3', store, async (glint) => {
      log(`S3 (s3rver): PUT/GET ${sizeLabel(settings.size)} ×${settings.runs}, glint vs direct lib-storage`);
      for (let r = 0; r < settings.runs; r++) {
        const id = await createImage(glint.url, `bench-s3-${r}`);
        const put = await curlUpload(`${glint.url}/v2/images/${id}/file`, ctx.blob);
        m.s3.glintPut.push(put.rate);
        const direct = await s3Direct('put', s3, 'direct', `object-${r}`, ctx.blob);
        m.s3.directPut.push(direct.bytes / MiB / direct.seconds);
        const get = await curlDownload(`${glint.url}/v2/images/${id}/file`);
        if (get.bytes !== settings.size) throw new Error(`glint S3 GET returned ${get.bytes} bytes`);
        m.s3.glintGet.push(get.rate);
        const directGet = await s3Direct('get', s3, 'direct', `object-${r}`);
        m.s3.directGet.push(directGet.bytes / MiB / directGet.seconds);
        log(`  PUT glint ${put.rate.toFixed(0)} / direct ${(direct.bytes / MiB / direct.seconds).toFixed(0)} MiB/s; GET glint ${get.rate.toFixed(0)} / direct ${(directGet.bytes / MiB / directGet.seconds).toFixed(0)} MiB/s`);
        if (r === 0) await verifyImage(ctx, glint, id);
        await deleteImage(glint.url, id);
        await s3Direct('delete', s3, 'direct', `object-${r}`);
      }
      m.rss.s3.push(glint.memory().hwm / MB);
    });
  } finally {
    await s3.stop();
  }
}

/** algo: the algoPlatform registry (bench/algoplatform.ts), on the list phase's catalog size. */
function runAlgoPhase(ctx: Context): Promise<void> {
  return algoPhase({
    settings: ctx.settings,
    records: ctx.settings.listImages,
    tmp: ctx.tmp,
    m: ctx.m,
    log,
    withGlint: (name, store, work, database) => withGlint(ctx, name, store, work, database),
    startReference: (name, start) => startReference(name, start, ctx.refErrors),
  });
}

/** edgegallery: EdgeGallery's upload, merge and downloads against glint's own Glance routes (bench/edgegallery.ts). */
function runEdgeGalleryPhase(ctx: Context): Promise<void> {
  return edgeGalleryPhase({
    settings: ctx.settings,
    tmp: ctx.tmp,
    blob: ctx.blob,
    m: ctx.m,
    log,
    withGlint: (name, store, work, database) => withGlint(ctx, name, store, work, database),
  });
}

/** --profile: each glint scenario in its own process under --cpu-prof, once, without references. */
async function profileScenarios(ctx: Context): Promise<void> {
  const { settings, m } = ctx;
  const store: GlintStore = { type: 'file', dataDir: join(ctx.tmp, 'glint-file', 'images') };
  const database = join(ctx.tmp, 'glint-file', 'glint.db');
  let id = '';
  if (settings.phases.has('io') || settings.phases.has('api')) {
    await guarded(ctx, 'put', () =>
      withGlint(ctx, 'put', store, async (glint) => {
        log('profile: PUT');
        id = (await putRuns(ctx, glint, m.put.glint, null)).glintIds[0];
      }, database),
    );
  }
  if (id && settings.phases.has('io')) {
    await guarded(ctx, 'get', () =>
      withGlint(ctx, 'get', store, async (glint) => {
        log('profile: GET');
        await getRuns(ctx, glint, id, { nginx: null, glance: null });
      }, database),
    );
  }
  if (id && settings.phases.has('api')) {
    await guarded(ctx, 'range', () => withGlint(ctx, 'range', store, (glint) => rangeRuns(ctx, glint, id, { nginx: null, koaFloor: null, downloadFloor: null }), database));
    await guarded(ctx, 'show', () => withGlint(ctx, 'show', store, (glint) => showRuns(ctx, glint, id, null, undefined), database));
  }
  if (settings.phases.has('list')) await guarded(ctx, 'list', () => listPhase(ctx));
  if (settings.phases.has('s3')) await guarded(ctx, 's3', () => s3Phase(ctx));
  if (settings.phases.has('algo')) await guarded(ctx, 'algo', () => runAlgoPhase(ctx));
}

// ---- the table ----------------------------------------------------------------------------------

/** Says so when twice Glance's download rate is more than nginx's own sendfile rate. */
function aboveNginx(glance: number[], nginx: number[]): string | undefined {
  const g = median(glance);
  const n = median(nginx);
  if (g === null || n === null || 2 * g <= n) return undefined;
  return `2× Glance (${(2 * g).toFixed(0)} MiB/s) is above nginx with sendfile (${n.toFixed(0)} MiB/s)`;
}

function buildRows(settings: Settings, m: Measurements, refErrors: Record<string, string>): Row[] {
  const size = sizeLabel(settings.size);
  const rows: Row[] = [];
  const failed = (name: string) => (m.failures[name] ? `glint failed: ${m.failures[name].split('\n')[0]}` : undefined);
  const refNote = (name: string) => (refErrors[name] ? `${name} unavailable: ${refErrors[name].split('\n')[0]}` : undefined);
  const notes = (...n: Array<string | undefined>) => n.filter(Boolean).join('; ') || undefined;
  const io = settings.phases.has('io');
  const api = settings.phases.has('api');
  if (io) {
    rows.push(
      makeRow({ metric: `PUT /file ${size} (md5+sha512)`, unit: 'MiB/s', glintRuns: m.put.glint, referenceRuns: m.sha512, referenceName: 'sha512 1 core', goal: { kind: 'ratio-min', value: 0.75 }, note: failed(settings.profile ? 'put' : 'io') }),
      makeRow({ metric: `PUT /file ${size} (md5+sha512)`, unit: 'MiB/s', glintRuns: m.put.glint, referenceRuns: m.md5, referenceName: 'md5 1 core', goal: { kind: 'info' } }),
      makeRow({ metric: `  hash floor: node:http + both hash threads`, unit: 'MiB/s', glintRuns: m.put.floor, referenceRuns: m.sha512, referenceName: 'sha512 1 core', goal: { kind: 'info' }, note: notes(refNote('put-floor'), 'not glint: bare node:http hashing md5 and sha512 on two threads and dropping the bytes') }),
      makeRow({ metric: `PUT /file ${size} (md5+sha512)`, unit: 'MiB/s', glintRuns: m.put.glint, referenceRuns: m.durableWrite, referenceName: 'write+fdatasync', goal: { kind: 'info' } }),
      makeRow({ metric: `PUT /file ${size}`, unit: 'MiB/s', glintRuns: m.put.glint, referenceRuns: m.put.glance, referenceName: 'Glance', goal: { kind: 'ratio-min', value: 2 }, note: refNote('glance') }),
      makeRow({ metric: `GET /file ${size}`, unit: 'MiB/s', glintRuns: m.get.glint, referenceRuns: m.get.nginx, referenceName: 'nginx', goal: { kind: 'ratio-min', value: 0.6 }, note: notes(failed(settings.profile ? 'get' : 'io'), refNote('nginx')) }),
      makeRow({ metric: `GET /file ${size}`, unit: 'MiB/s', glintRuns: m.get.glint, referenceRuns: m.get.glance, referenceName: 'Glance', goal: { kind: 'ratio-min', value: 2 }, note: notes(refNote('glance'), aboveNginx(m.get.glance, m.get.nginx)) }),
    );
  }
  if (api) {
    rows.push(
      makeRow({ metric: `4 KiB Range GETs, ${settings.connections} conns`, unit: 'req/s', glintRuns: m.range.glint, referenceRuns: m.range.nginx, referenceName: 'nginx', goal: { kind: 'ratio-min', value: 0.25 }, note: notes(failed(settings.profile ? 'range' : 'api'), refNote('nginx')) }),
      makeRow({ metric: `  stack floor: Koa+@koa/router, 4 KiB from memory`, unit: 'req/s', glintRuns: m.range.koaFloor, referenceRuns: m.range.nginx, referenceName: 'nginx', goal: { kind: 'info' }, note: notes(refNote('koa-floor'), 'not glint: what the chosen HTTP stack serves with no catalog read and no disk') }),
      makeRow({ metric: `  download floor: + catalog row + 4 KiB file read`, unit: 'req/s', glintRuns: m.range.downloadFloor, referenceRuns: m.range.nginx, referenceName: 'nginx', goal: { kind: 'info' }, note: notes(refNote('download-floor'), "not glint: the stack floor's route reading the image's catalog row and its file, nothing else") }),
      makeRow({ metric: `GET /v2/images/{id}, ${settings.connections} conns`, unit: 'req/s', glintRuns: m.show.glint, referenceRuns: m.show.glance, referenceName: 'Glance', goal: { kind: 'min', value: 5000 }, note: notes(failed(settings.profile ? 'show' : 'api'), refNote('glance')) }),
    );
  }
  if (settings.phases.has('list')) {
    rows.push(
      makeRow({ metric: `GET /v2/images?limit=20, ${settings.listImages.toLocaleString('en-US')} images`, unit: 'req/s', glintRuns: m.list.glint, goal: { kind: 'min', value: 3000 }, note: failed('list') }),
    );
  }
  if (io && !settings.profile) {
    const idle = m.rss.idle.length ? `RSS at rest after start-up ${m.rss.idle[0].toFixed(1)} MB` : undefined;
    rows.push(makeRow({ metric: `peak RSS, ${size} PUT+GET (VmHWM)`, unit: 'MB', glintRuns: m.rss.small, goal: { kind: 'max', value: 120 }, note: notes(failed('io'), idle) }));
  }
  if (settings.phases.has('big') && !settings.profile) {
    // "no higher than with 1 GiB": the small run's figure is the reference, with 2 MB for page-level noise
    const row = makeRow({
      metric: `peak RSS, ${sizeLabel(settings.bigSize)} PUT+GET (VmHWM)`,
      unit: 'MB',
      glintRuns: m.rss.big,
      referenceRuns: m.rss.small.map((v) => v + 2),
      referenceName: `${size} run + 2 MB`,
      goal: { kind: 'ratio-max', value: 1 },
      note: failed('big'),
    });
    rows.push(row);
  }
  if (settings.phases.has('s3')) {
    const s3note = notes(failed('s3'), refNote('s3rver'));
    rows.push(
      makeRow({ metric: `S3 PUT /file ${size} (s3rver)`, unit: 'MiB/s', glintRuns: m.s3.glintPut, referenceRuns: m.s3.directPut, referenceName: 'lib-storage direct', goal: { kind: 'info' }, note: s3note }),
      makeRow({ metric: `S3 GET /file ${size} (s3rver)`, unit: 'MiB/s', glintRuns: m.s3.glintGet, referenceRuns: m.s3.directGet, referenceName: 'SDK direct', goal: { kind: 'info' } }),
    );
    if (!settings.profile) rows.push(makeRow({ metric: `peak RSS, S3 ${size} PUT+GET`, unit: 'MB', glintRuns: m.rss.s3, goal: { kind: 'info' } }));
  }
  if (settings.phases.has('algo')) {
    rows.push(...algoRows({ records: settings.listImages, connections: settings.connections, failure: m.failures.algo, floorError: refErrors['algo-floor'] }, m.algo));
  }
  if (settings.phases.has('edgegallery') && !settings.profile) rows.push(...edgeGalleryRows(size, m.edgegallery, m.failures.edgegallery));
  return rows;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    void stopAll().finally(() => process.exit(1));
  },
);
