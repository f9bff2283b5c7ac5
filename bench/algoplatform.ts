import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { algoWrk, prepareAlgoLoad, type AlgoLoad, type AlgoLoadMode } from './algoplatform-load';
import { isSeededDeleted, namespaceCount, namespaceOf, recordName, recordNumber, RECORDS_PER_NAMESPACE, seedAlgorithms, TAGS } from './algoplatform-seed';
import type { Glint, GlintStore } from './glint';
import { requestJson, type WrkResult } from './load';
import { freePort, sleep, startService, tailFile, TSX_CJS, waitForHttp } from './proc';
import type { Reference } from './references';
import { makeRow, type Row } from './table';

/**
 * The `algo` phase: the algoPlatform registry (issue 13) on a fresh glint (built, default
 * workers, SQLite) whose catalog is seeded with `records` algoPlatform records (bench/
 * algoplatform-seed.ts), under wrk:
 * - `POST _search` by namespace (about 100 records per answer), goal ≥ 2,000 req/s;
 * - `POST _search` by substring (about 100 records, found among all names), reported;
 * - `POST _register` of a new name+tag per request (a quarter with a dependency), goal ≥ 500/s.
 * The reference, measured in the same run and interleaved run by run, is the algo floor
 * (bench/algoplatform-floor-child.ts): Koa + @koa/router doing per request only the statements
 * the route needs (one prepared SELECT and the JSON; one INSERT transaction) on the same catalog,
 * with glint's default number of workers.
 */

export interface AlgoMeasurements {
  searchNamespace: { glint: number[]; floor: number[] };
  searchSubstring: { glint: number[] };
  register: { glint: number[]; floor: number[] };
  seedSeconds?: number;
  /** Records a namespace search returned in the probe. */
  namespaceHits?: number;
  substringHits?: number;
}

export function newAlgoMeasurements(): AlgoMeasurements {
  return { searchNamespace: { glint: [], floor: [] }, searchSubstring: { glint: [] }, register: { glint: [], floor: [] } };
}

/** What the phase takes from bench/run.ts. */
export interface AlgoHost {
  settings: { profile: boolean; runs: number; loadSeconds: number; warmUpSeconds: number; connections: number };
  records: number;
  tmp: string;
  m: { algo: AlgoMeasurements; notes: string[]; wrk: Record<string, WrkResult[]> };
  log(message: string): void;
  withGlint<T>(name: string, store: GlintStore, work: (glint: Glint) => Promise<T>, database: string): Promise<T>;
  startReference<T>(name: string, start: () => Promise<T>): Promise<T | null>;
}

const BASE = '/algoPlatform/images';

export async function algoPhase(host: AlgoHost): Promise<void> {
  const { m, log } = host;
  const dir = join(host.tmp, 'glint-algo-data');
  mkdirSync(dir, { recursive: true });
  const database = join(dir, 'glint.db');
  prepareAlgoLoad(host.tmp);
  log(`seeding ${host.records.toLocaleString('en-US')} algoPlatform records`);
  const seeded = await seedAlgorithms(database, host.records);
  m.algo.seedSeconds = seeded.seconds;
  log(`  seeded ${seeded.records.toLocaleString('en-US')} records (${seeded.live.toLocaleString('en-US')} live, ${seeded.dependencies.toLocaleString('en-US')} dependencies) in ${seeded.seconds.toFixed(1)} s`);
  const namespaces = namespaceCount(host.records);
  // live seeded records a registration may depend on
  const dependencies: string[] = [];
  for (let ns = 0; ns < namespaces && dependencies.length < 50; ns++) {
    if (!isSeededDeleted(recordNumber(ns, 1, 0))) dependencies.push(`${recordName(ns, 1)}:${TAGS[0]}`);
  }
  const floor = host.settings.profile ? null : await host.startReference('algo-floor', () => startAlgoFloor(join(host.tmp, 'algo-floor'), database));
  try {
    await host.withGlint('algo', { type: 'file', dataDir: join(dir, 'images') }, async (glint) => {
      await probe(host, glint.url, floor?.url ?? null);
      let runNumber = 0;
      // who: g(lint) or f(loor); register loads create records under benchreg-<who><n>/
      const load = (mode: AlgoLoadMode, url: string, who: 'g' | 'f'): Omit<AlgoLoad, 'seconds'> => ({
        url: `${url}${BASE}/${mode === 'register' ? '_register' : '_search'}`,
        mode,
        connections: host.settings.connections,
        namespaces,
        run: `benchreg-${who}${++runNumber}`,
        dependencies,
      });
      log(`POST ${BASE}/_search by namespace, ${host.settings.connections} connections, ${host.settings.loadSeconds} s ×${host.settings.runs}`);
      await interleaved(host, [
        ...(floor ? [{ key: 'algo-search-floor', load: () => load('search-ns', floor.url, 'f'), into: m.algo.searchNamespace.floor }] : []),
        { key: 'algo-search-glint', load: () => load('search-ns', glint.url, 'g'), into: m.algo.searchNamespace.glint },
      ]);
      log(`POST ${BASE}/_search by substring`);
      await interleaved(host, [{ key: 'algo-substr-glint', load: () => load('search-sub', glint.url, 'g'), into: m.algo.searchSubstring.glint }]);
      log(`POST ${BASE}/_register, a new name+tag per request`);
      const answered = await interleaved(host, [
        ...(floor ? [{ key: 'algo-reg-floor', load: () => load('register', floor.url, 'f'), into: m.algo.register.floor }] : []),
        { key: 'algo-reg-glint', load: () => load('register', glint.url, 'g'), into: m.algo.register.glint },
      ]);
      await checkRegistered(host, glint.url, answered['algo-reg-glint'] ?? 0);
    }, database);
  } finally {
    await floor?.stop();
  }
}

/** One search of each kind before the loads: the answers must be what the loads assume. */
async function probe(host: AlgoHost, glintUrl: string, floorUrl: string | null): Promise<void> {
  const namespace = namespaceOf(Math.min(42, namespaceCount(host.records) - 1));
  const search = async (url: string, body: Record<string, string>) => {
    const res = await requestJson('POST', `${url}${BASE}/_search`, body);
    const envelope = res.json as { status?: string; res?: { data?: unknown } };
    const data = envelope.res?.data;
    if (res.status !== 200 || envelope.status !== '0' || !Array.isArray(data)) {
      throw new Error(`POST ${url}${BASE}/_search ${JSON.stringify(body)}: HTTP ${res.status} ${JSON.stringify(res.json).slice(0, 300)}`);
    }
    return data as Array<Record<string, unknown>>;
  };
  const glintRecords = await search(glintUrl, { namespace });
  if (glintRecords.length < RECORDS_PER_NAMESPACE * 0.9 || Object.keys(glintRecords[0]).length !== 29) {
    throw new Error(`namespace ${namespace}: ${glintRecords.length} records of ${Object.keys(glintRecords[0] ?? {}).length} fields`);
  }
  host.m.algo.namespaceHits = glintRecords.length;
  host.m.algo.substringHits = (await search(glintUrl, { searchCondition: 'ocr-07' })).length;
  host.log(`  probe: namespace ${namespace} → ${glintRecords.length} records; substring ocr-07 → ${host.m.algo.substringHits}`);
  if (floorUrl) {
    const floorRecords = await search(floorUrl, { namespace });
    if (JSON.stringify(floorRecords) !== JSON.stringify(glintRecords)) host.m.notes.push(`algo floor: its ${namespace} answer differs from glint's (${floorRecords.length} records)`);
  }
}

/** Every glint registration answered (warm-up included) is there once, under benchreg-g. */
async function checkRegistered(host: AlgoHost, glintUrl: string, answered: number): Promise<void> {
  if (answered === 0) return;
  const res = await requestJson('POST', `${glintUrl}${BASE}/_search`, { namespace: 'benchreg-g' });
  const data = (res.json as { res?: { data?: unknown } }).res?.data;
  const found = Array.isArray(data) ? data.length : 0;
  // wrk counts answered requests; those in flight when it stops may have been registered too
  const runs = host.settings.runs + 1;
  if (found < answered || found > answered + host.settings.connections * runs) {
    host.m.notes.push(`algo register: ${found} records found for ${answered} answered registrations`);
  }
  host.log(`  registered records found: ${found} for ${answered} answered registrations (warm-up included)`);
}

interface Target {
  key: string;
  load: () => Omit<AlgoLoad, 'seconds'>;
  into: number[];
}

/**
 * Each target warmed up once, then measured run by run in turn; a run with > 1 % errors gives no
 * figure. Returns the requests answered per target, warm-up included.
 */
async function interleaved(host: AlgoHost, targets: Target[]): Promise<Record<string, number>> {
  const { settings, m, log } = host;
  const answered: Record<string, number> = {};
  for (const target of targets) {
    const result = await algoWrk({ ...target.load(), seconds: settings.warmUpSeconds }).catch(() => null);
    answered[target.key] = result?.requests ?? 0;
    log(`  ${target.key.padEnd(18)} warm-up${result ? ` ${result.reqPerSec.toFixed(0)} req/s${result.errors ? ` (errors: ${result.errorDetail})` : ''}` : ' failed'} (not counted)`);
  }
  for (let r = 0; r < settings.runs; r++) {
    for (const target of targets) {
      let result: WrkResult;
      try {
        result = await algoWrk({ ...target.load(), seconds: settings.loadSeconds });
      } catch (err) {
        if (target.key.endsWith('-glint')) throw err;
        m.notes.push(`${target.key}: ${(err as Error).message}`);
        continue;
      }
      (m.wrk[target.key] ??= []).push(result);
      answered[target.key] += result.requests;
      log(`  ${target.key.padEnd(18)} ${result.reqPerSec.toFixed(0)} req/s  p50 ${result.p50Ms.toFixed(1)} ms  p99 ${result.p99Ms.toFixed(1)} ms${result.errors ? `  errors: ${result.errorDetail}` : ''}`);
      if (result.errors > result.requests * 0.01) {
        m.notes.push(`${target.key}: run discarded, ${result.errorDetail} of ${result.requests} requests`);
        continue;
      }
      target.into.push(result.reqPerSec);
    }
  }
  return answered;
}

/** The algo floor (bench/algoplatform-floor-child.ts) on `catalog`. */
async function startAlgoFloor(dir: string, catalog: string): Promise<Reference> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const logFile = join(dir, 'algo-floor.log');
  const service = startService('algo-floor', process.execPath, [...TSX_CJS, join(__dirname, 'algoplatform-floor-child.ts'), String(port), catalog], { logFile });
  const url = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 30_000;
    while (!tailFile(logFile, 5).includes('ALGO-FLOOR listening')) {
      if (Date.now() > deadline) throw new Error(`the algo floor did not start:\n${tailFile(logFile, 20)}`);
      if (service.child.exitCode !== null) throw new Error(`the algo floor exited:\n${tailFile(logFile, 20)}`);
      await sleep(100);
    }
    await waitForHttp(`${url}/`, service, 15_000, 404);
  } catch (err) {
    await service.stop();
    throw err;
  }
  return { name: 'algo-floor', url, service, dir, stop: () => service.stop() };
}

export function algoRows(options: { records: number; connections: number; failure?: string; floorError?: string }, m: AlgoMeasurements): Row[] {
  const records = options.records.toLocaleString('en-US');
  const floorNote = options.floorError ? `algo floor unavailable: ${options.floorError.split('\n')[0]}` : undefined;
  const failed = options.failure ? `glint failed: ${options.failure.split('\n')[0]}` : undefined;
  const notes = (...n: Array<string | undefined>) => n.filter(Boolean).join('; ') || undefined;
  return [
    makeRow({
      metric: `POST _search by namespace (~${m.namespaceHits ?? 100} of ${records}), ${options.connections} conns`,
      unit: 'req/s',
      glintRuns: m.searchNamespace.glint,
      referenceRuns: m.searchNamespace.floor,
      referenceName: 'algo floor',
      goal: { kind: 'min', value: 2000 },
      note: notes(failed, floorNote),
    }),
    makeRow({
      metric: `POST _search by substring (~${m.substringHits ?? 100} of ${records}), ${options.connections} conns`,
      unit: 'req/s',
      glintRuns: m.searchSubstring.glint,
      goal: { kind: 'info' },
    }),
    makeRow({
      metric: `POST _register, new name+tag each, ${options.connections} conns`,
      unit: 'req/s',
      glintRuns: m.register.glint,
      referenceRuns: m.register.floor,
      referenceName: 'algo floor',
      goal: { kind: 'min', value: 500 },
      note: notes(failed, floorNote),
    }),
    makeRow({
      metric: '  algo floor: Koa + namespace SELECT + JSON',
      unit: 'req/s',
      glintRuns: m.searchNamespace.floor,
      goal: { kind: 'info' },
      note: notes(floorNote, "not glint: Koa + @koa/router, one prepared SELECT of the namespace's records and their JSON, nothing else"),
    }),
    makeRow({
      metric: '  algo floor: Koa + one INSERT transaction',
      unit: 'req/s',
      glintRuns: m.register.floor,
      goal: { kind: 'info' },
      note: notes(floorNote, 'not glint: Koa + @koa/router, MAX(event_type) + 1 and one INSERT in an IMMEDIATE transaction, nothing else'),
    }),
  ];
}
