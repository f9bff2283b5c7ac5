import Koa, { type Context, type Middleware } from 'koa';
import type { Logger } from '../lib/logger';
import { clientGone } from './body';
import { type HttpProblem, toProblem } from './errors';

export interface HttpAppOptions {
  /** Surfaces tried in order; each handles its own paths or calls next(). The last one answers all. */
  surfaces: Middleware[];
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
  for (const surface of options.surfaces) app.use(surface);
  return app;
}

/**
 * Access-log lines are collected and written once per event-loop turn: stdout redirected to a
 * file or pipe is written synchronously, and one write per request showed up in profiles.
 */
function batchedLineWriter(stream: NodeJS.WritableStream): (line: string) => void {
  let lines: string[] = [];
  const flush = () => {
    const text = lines.join('');
    lines = [];
    stream.write(text);
  };
  return (line) => {
    if (lines.push(line) === 1) setImmediate(flush);
  };
}

function accessLog(stream: NodeJS.WritableStream | null): Middleware {
  const write = stream ? batchedLineWriter(stream) : null;
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      if (write) {
        const log = () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          const status = ctx.res.writableFinished ? ctx.status : 499;
          const id = ctx.response.get('x-openstack-request-id') || '-';
          write(`${ctx.ip} "${ctx.method} ${ctx.originalUrl}" ${status} ${ctx.response.length ?? '-'} ${ms.toFixed(1)}ms ${id}\n`);
        };
        if (ctx.res.writableFinished || ctx.res.destroyed) log();
        else ctx.res.once('close', log);
      }
    }
  };
}

type ErrorFormatter = (ctx: Context, problem: HttpProblem) => void;

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
      const format = (ctx.state.formatError as ErrorFormatter | undefined) ?? writePlainError;
      format(ctx, problem);
    }
  };
}

function writePlainError(ctx: Context, problem: HttpProblem): void {
  ctx.status = problem.status;
  for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
  ctx.type = 'text/plain; charset=UTF-8';
  ctx.body = problem.expose ? problem.message : 'Internal Server Error';
}
