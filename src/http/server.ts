import Koa, { type Context, type Middleware } from 'koa';
import type { Logger } from '../lib/logger';
import { isSelfWriting } from '../lib/self-writing-body';
import { clientGone } from './body';
import { type HttpProblem, toProblem } from './errors';
import { claimingSurface, type Surface } from './surface';

export interface HttpAppOptions {
  /** Asked in order which claims a path; the last one should claim every path. */
  surfaces: Surface[];
  logger: Logger;
  /** Where access-log lines go; null = no access log. */
  accessLog: NodeJS.WritableStream | null;
}

/** The Koa application: access log, one error boundary, OPTIONS and healthcheck, then the surfaces. */
export function createHttpApp(options: HttpAppOptions): Koa {
  const app = new Koa();
  app.proxy = false;
  app.silent = true;

  app.use(accessLog(options.accessLog));
  app.use(sendSelfWritingBodies(options.logger));
  app.use(errorBoundary(options.logger));
  app.use(async (ctx, next) => {
    if (ctx.method === 'OPTIONS') {
      ctx.status = 200;
      ctx.body = '';
      return;
    }
    if (ctx.path === '/healthcheck' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.status = ctx.method === 'GET' ? 200 : 204;
      ctx.type = 'text/plain';
      ctx.body = ctx.method === 'GET' ? 'OK' : null;
      return;
    }
    await next();
  });
  app.use(async (ctx, next) => {
    const surface = options.surfaces.find((candidate) => candidate.claims(ctx.path));
    if (!surface) return next();
    ctx.state.surface = surface;
    await surface.middleware(ctx, next);
  });
  return app;
}

/**
 * The access log: one line per request once its response is finished, or with status 499 once the
 * connection closed before that. Requests are collected and dealt with once per event-loop turn:
 * by then a response sent from memory is finished, so it needs no 'close' listener, and all lines
 * of the turn go out in one write (stdout redirected to a file or pipe is written synchronously,
 * and one write per request showed up in profiles).
 */
function accessLog(stream: NodeJS.WritableStream | null): Middleware {
  if (!stream) return (_ctx, next) => next();
  let pending: Array<{ ctx: Context; started: number; ip: string }> = [];
  let lines = '';
  let scheduled = false;
  const line = (ctx: Context, started: number, ip: string) => {
    const ms = performance.now() - started;
    const status = ctx.res.writableFinished ? ctx.status : 499;
    const id = ctx.res.getHeader('x-openstack-request-id') ?? '-';
    lines += `${ip} "${ctx.method} ${ctx.originalUrl}" ${status} ${ctx.response.length ?? '-'} ${ms.toFixed(1)}ms ${String(id)}\n`;
  };
  const flush = () => {
    scheduled = false;
    const requests = pending;
    pending = [];
    for (const { ctx, started, ip } of requests) {
      if (ctx.res.writableFinished || ctx.res.destroyed) line(ctx, started, ip);
      else
        ctx.res.once('close', () => {
          line(ctx, started, ip);
          schedule();
        });
    }
    if (lines.length > 0) stream.write(lines);
    lines = '';
  };
  const schedule = () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return async (ctx, next) => {
    const started = performance.now();
    // while the connection is up (a closed socket no longer knows its peer)
    const ip = ctx.req.socket.remoteAddress ?? '';
    try {
      await next();
    } finally {
      pending.push({ ctx, started, ip });
      schedule();
    }
  };
}

/** Statuses whose responses have no body (Koa drops the body of these). */
const EMPTY_STATUSES = new Set([204, 205, 304]);

/**
 * A body that can write itself into the response (a filesystem download) does so once every other
 * middleware is done, where Koa would pipe it through stream.pipeline: that one sets up an
 * AbortController, two end-of-stream watchers and more for each response, and the body's own
 * writeTo reuses its buffers and reads ahead. Status and headers are on the response already.
 */
function sendSelfWritingBodies(logger: Logger): Middleware {
  return async (ctx, next) => {
    await next();
    const body = ctx.body;
    if (!isSelfWriting(body) || ctx.respond === false || ctx.method === 'HEAD' || EMPTY_STATUSES.has(ctx.status)) return;
    ctx.respond = false;
    if (!ctx.writable) {
      body.destroy();
      ctx.res.end();
      return;
    }
    body.writeTo(ctx.res).catch((err: unknown) => {
      // the client went away; the access log has it as 499
      if ((err as { code?: unknown } | null)?.code === 'ERR_STREAM_PREMATURE_CLOSE') return;
      logger.error('response body failed', { method: ctx.method, path: ctx.originalUrl, error: (err as Error)?.stack ?? String(err) });
    });
  };
}

function errorBoundary(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const problem = toProblem(err);
      if (problem.status === 499 || clientGone(ctx)) {
        logger.info('client closed the connection', { method: ctx.method, path: ctx.originalUrl });
        ctx.status = 499;
        return;
      }
      if (problem.status >= 500 && problem.status !== 501 && problem.status !== 503) {
        logger.error('request failed', { method: ctx.method, path: ctx.originalUrl, error: (err as Error)?.stack ?? String(err) });
      }
      if (ctx.headerSent) {
        ctx.res.destroy();
        return;
      }
      const surface = claimingSurface(ctx);
      if (surface) surface.formatError(ctx, problem);
      else writePlainError(ctx, problem);
    }
  };
}

function writePlainError(ctx: Context, problem: HttpProblem): void {
  ctx.status = problem.status;
  for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
  ctx.type = 'text/plain; charset=UTF-8';
  ctx.body = problem.expose ? problem.message : 'Internal Server Error';
}
