/**
 * The algo phase's floor: what this stack allows the two measured algoPlatform routes before any
 * of glint's own work. Koa with one @koa/router route per operation, with glint's default number
 * of workers, on the algo phase's own SQLite catalog; no identity, no request id, no log, no
 * validation, no error envelope:
 * - `POST /algoPlatform/images/_search`: reads the JSON body, runs one prepared better-sqlite3
 *   statement (the live records whose name is in the namespace's range of the (live, name, tag)
 *   index, the columns the surface shows) and answers the `{status, res: {data}, msg}` envelope
 *   with the 29-field records.
 * - `POST /algoPlatform/images/_register`: reads the JSON body and inserts the record in one
 *   IMMEDIATE transaction (the next event type by MAX + 1, as glint does on SQLite, then the
 *   INSERT), WAL with synchronous = NORMAL as glint opens the catalog; answers the envelope.
 *
 * Arguments: <port> <catalog.db>. Stops on SIGTERM. Started by bench/algoplatform.ts with
 * `node --require tsx/cjs`.
 */
import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import { prefixUpperBound } from '../src/catalog/knex-algorithms';
import { defaultWorkerCount } from '../src/config/load';

const [portArg, catalogFile] = process.argv.slice(2);
const port = Number(portArg);
if (!port || !catalogFile) {
  process.stderr.write('usage: algoplatform-floor-child <port> <catalog.db>\n');
  process.exit(2);
}

interface SqliteStatement {
  all(...bindings: unknown[]): unknown[];
  get(...bindings: unknown[]): unknown;
  run(...bindings: unknown[]): unknown;
}
interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  pragma(source: string): unknown;
  transaction(fn: () => void): { immediate(): void };
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require('better-sqlite3') as new (file: string, options: { fileMustExist: boolean }) => SqliteDatabase;

type Row = Record<string, string | number | null>;

async function body(ctx: Context): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
}

function present(row: Row): Record<string, unknown> {
  return {
    imageId: row.id,
    imageName: row.name,
    imageTag: row.tag,
    imagePorts: row.ports,
    imageMount: row.mounts,
    pvcSize: row.pvc_size,
    factory: row.factory,
    algoName: row.algo_name,
    algoDesc: row.algo_desc,
    deleteFlag: '0',
    tvChannel: row.tv_channel,
    pics: row.pics,
    cpuRequests: row.cpu_requests,
    gpuRequests: row.gpu_requests,
    memRequests: row.mem_requests,
    config: row.config,
    algoType: row.algo_type,
    eventType: row.event_type,
    subPath: row.sub_paths,
    hostPath: row.host_paths,
    workingDir: row.working_dir,
    env: row.env,
    command: row.command,
    args: row.args,
    dependencyServiceId: row.dependency_event_types,
    frameInterval: row.frame_interval,
    frameNumber: row.frame_number,
    incidentId: row.incident_id,
    useableFlag: row.useable_flag,
  };
}

const COLUMNS =
  'id, name, tag, ports, mounts, pvc_size, factory, algo_name, algo_desc, tv_channel, pics, cpu_requests, gpu_requests, mem_requests, config, algo_type, event_type, sub_paths, host_paths, working_dir, env, command, args, dependency_event_types, frame_interval, frame_number, incident_id, useable_flag';

if (cluster.isPrimary) {
  const workers = defaultWorkerCount();
  for (let i = 0; i < workers; i++) cluster.fork();
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === workers) process.stdout.write(`ALGO-FLOOR listening on ${port} with ${workers} workers\n`);
  });
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const db = new Database(catalogFile, { fileMustExist: true });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const search = db.prepare(`SELECT ${COLUMNS} FROM algorithm_images WHERE live = 1 AND name >= ? AND name < ? ORDER BY live, name, tag`);
  const nextEventType = db.prepare('SELECT MAX(event_type) AS highest FROM algorithm_images');
  const insert = db.prepare(
    'INSERT INTO algorithm_images (id, name, tag, event_type, algo_type, factory, algo_name, algo_desc, ports, frame_interval, frame_number, live, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)',
  );
  const app = new Koa();
  const router = new Router({ strict: true, sensitive: true });
  router.post('/algoPlatform/images/_search', async (ctx) => {
    const namespace = String((await body(ctx)).namespace ?? '');
    const rows = search.all(namespace, prefixUpperBound(namespace) ?? '\u{10ffff}') as Row[];
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ status: '0', res: { data: rows.length > 0 ? rows.map(present) : 'no such results' }, msg: '查询成功' });
  });
  router.post('/algoPlatform/images/_register', async (ctx) => {
    const record = await body(ctx);
    const now = Date.now();
    db.transaction(() => {
      const { highest } = nextEventType.get() as { highest: number | null };
      insert.run(randomUUID().replace(/-/g, ''), record.imageName, record.imageTag, (highest ?? 0) + 1, record.algoType, record.factory, record.algoName, record.algoDesc ?? null, record.imagePorts ?? null, record.frameInterval ?? null, record.frameNumber ?? null, now, now);
    }).immediate();
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({ status: '0', res: null, msg: '注册成功' });
  });
  app.use(router.routes());
  app.listen(port, '127.0.0.1');
}
