/**
 * The ceiling the chosen HTTP stack puts on small GETs: Koa with one @koa/router route that answers
 * `GET /v2/images/:id/file` with 206 and 4 KiB already in memory — no catalog read, no disk, no
 * logging. It runs with as many worker processes as glint's default (one per CPU, at most 8), on
 * the port given as its first argument (the object size, for Content-Range, is the second), and
 * stops on SIGTERM. Started by bench/references.ts with
 * `node --require tsx/cjs`; whatever glint does per request comes on top of this.
 */
import cluster from 'node:cluster';
import Router from '@koa/router';
import Koa from 'koa';
import { defaultWorkerCount } from '../src/config/load';

const port = Number(process.argv[2]);
const size = Number(process.argv[3]);
const chunk = Buffer.alloc(4096, 7);

if (cluster.isPrimary) {
  const workers = defaultWorkerCount();
  for (let i = 0; i < workers; i++) cluster.fork();
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === workers) process.stdout.write(`KOA-FLOOR listening on ${port} with ${workers} workers\n`);
  });
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const app = new Koa();
  const router = new Router({ strict: true, sensitive: true });
  router.get('/v2/images/:id/file', (ctx) => {
    const start = Number(/^bytes=(\d+)-/.exec(ctx.get('range'))?.[1] ?? 0);
    ctx.status = 206;
    ctx.set('Content-Type', 'application/octet-stream');
    ctx.set('Content-Range', `bytes ${start}-${start + chunk.length - 1}/${size}`);
    ctx.body = chunk;
  });
  app.use(router.routes());
  app.listen(port, '127.0.0.1');
}
