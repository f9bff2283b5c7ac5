/**
 * The ceilings the chosen stack puts on small GETs, as `GET /v2/images/:id/file` with a 4 KiB
 * Range, 206 and Content-Range, and nothing of glint's own: no identity, no policy, no request
 * id, no log. Two modes:
 * - `memory`: Koa with one @koa/router route answering 4 KiB already in memory; no catalog, no disk.
 * - `download <catalog.db> <dataDir>`: the same route doing the two things any Glance-compatible
 *   download must do per request on this stack: read the image's row from glint's SQLite catalog
 *   (one prepared better-sqlite3 statement selecting what glint's image reads select) and read the
 *   4 KiB from the image's file through libuv's threadpool (descriptors opened once and kept).
 *
 * It runs with as many worker processes as glint's default (one per CPU, at most 8), on the port
 * given as its first argument (the object size, for Content-Range, is the second), and stops on
 * SIGTERM. Started by bench/references.ts with `node --require tsx/cjs`.
 */
import cluster from 'node:cluster';
import { openSync, read } from 'node:fs';
import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import { IMAGE_SELECT, imageByIdStatement, imagesColumn } from '../src/catalog/image-rows';
import { defaultWorkerCount } from '../src/config/load';

const [portArg, sizeArg, mode = 'memory', catalogFile, dataDir] = process.argv.slice(2);
const port = Number(portArg);
const size = Number(sizeArg);
const CHUNK_BYTES = 4096;

if (mode !== 'memory' && !(mode === 'download' && catalogFile && dataDir)) {
  process.stderr.write('usage: koa-floor-child <port> <size> [memory | download <catalog.db> <dataDir>]\n');
  process.exit(2);
}

/** The part of better-sqlite3 used here (it ships no types; src/catalog/statements.ts does the same). */
interface SqliteStatement {
  raw(toggle: boolean): SqliteStatement;
  get(...bindings: unknown[]): unknown;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require('better-sqlite3') as new (file: string, options: { readonly: boolean; fileMustExist: boolean }) => { prepare(sql: string): SqliteStatement };

type Chunk = (id: string, start: number) => Promise<Buffer | null>;

function fromMemory(): Chunk {
  const chunk = Buffer.alloc(CHUNK_BYTES, 7);
  return async () => chunk;
}

function fromCatalogAndDisk(catalog: string, data: string): Chunk {
  const db = new Database(catalog, { readonly: true, fileMustExist: true });
  // glint's own statement for a live image by id, with its columns and the children document
  const row = db.prepare(imageByIdStatement('', false)(`${IMAGE_SELECT}, ${imagesColumn('children')}`).sql).raw(true);
  const descriptors = new Map<string, number>();
  return (id, start) => {
    const found = row.get(id) as unknown[] | undefined;
    if (found === undefined) return Promise.resolve(null);
    // the children document's first location, [store id, object key, …] (image-rows.ts)
    const children = JSON.parse(found[found.length - 1] as string) as { l: Array<[string, string]> };
    const path = `${data}/${children.l[0][1]}`;
    let fd = descriptors.get(path);
    if (fd === undefined) descriptors.set(path, (fd = openSync(path, 'r')));
    const into = Buffer.allocUnsafe(CHUNK_BYTES);
    return new Promise((resolve, reject) => read(fd, into, 0, CHUNK_BYTES, start, (err) => (err ? reject(err) : resolve(into))));
  };
}

if (cluster.isPrimary) {
  const workers = defaultWorkerCount();
  for (let i = 0; i < workers; i++) cluster.fork();
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === workers) process.stdout.write(`KOA-FLOOR listening on ${port} with ${workers} workers (${mode})\n`);
  });
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const chunkOf = mode === 'download' ? fromCatalogAndDisk(catalogFile, dataDir) : fromMemory();
  const app = new Koa();
  const router = new Router({ strict: true, sensitive: true });
  router.get('/v2/images/:id/file', async (ctx: Context & { params: Record<string, string> }) => {
    const start = Number(/^bytes=(\d+)-/.exec(ctx.get('range'))?.[1] ?? 0);
    const chunk = await chunkOf(ctx.params.id, start);
    if (chunk === null) {
      ctx.status = 404;
      return;
    }
    ctx.status = 206;
    ctx.set('Content-Type', 'application/octet-stream');
    ctx.set('Content-Range', `bytes ${start}-${start + chunk.length - 1}/${size}`);
    ctx.body = chunk;
  });
  app.use(router.routes());
  app.listen(port, '127.0.0.1');
}
