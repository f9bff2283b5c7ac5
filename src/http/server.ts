import type { Socket } from 'node:net';
import Koa, { type Context, type Middleware } from 'koa';
import type { RequestContext } from '../domain/context';
import type { Logger } from '../lib/logger';
import type { GlintMetrics } from '../lib/metrics';
import { isSelfWriting } from '../lib/self-writing-body';
import { clientGone } from './body';
import { type HttpProblem, toProblem } from './errors';
import { claimingSurface, openApiTemplate, routeMatcher, type Surface, type SurfaceRoute } from './surface';

export interface HttpAppOptions {
  /** Asked in order which claims a path; the last one should claim every path. */
  surfaces: Surface[];
  logger: Logger;
  /** The request log: one event per request (request id, surface, route, status, time, bytes, user, project); null = none. */
  requestLog?: RequestLog | null;
  /** Counts requests, latency and bytes; null = no metrics (and no GET /metrics). */
  metrics?: GlintMetrics | null;
  /** The exposition GET /metrics answers: this process's registry, or the whole node's in a cluster. */
  metricsText?: () => Promise<string>;
  /** OpenAPI documents served at GET /api-spec/<file name>. */
  specs?: ReadonlyMap<string, string>;
}

/** What the request log needs of a logger (pino's call shape). */
export interface RequestLog {
  info(fields: Record<string, unknown>, message: string): void;
}

/**
 * The Koa application: request log and metrics, one error boundary, OPTIONS, the healthcheck,
 * /metrics and /api-spec/, then the surfaces.
 */
export function createHttpApp(options: HttpAppOptions): Koa {
  const app = new Koa();
  app.proxy = false;
  app.silent = true;

  app.use(observeRequests(options.requestLog ?? null, options.metrics ?? null, options.surfaces));
  app.use(sendSelfWritingBodies(options.logger));
  app.use(errorBoundary(options.logger));
  app.use(async (ctx, next) => {
    if (ctx.method === 'OPTIONS') {
      options.surfaces.find((candidate) => candidate.claims(ctx.path))?.preflight?.(ctx);
      ctx.status = 200;
      ctx.body = '';
      return;
    }
    await next();
  });
  app.use(serverRoutes(options));
  app.use(async (ctx, next) => {
    const surface = options.surfaces.find((candidate) => candidate.claims(ctx.path));
    if (!surface) return next();
    ctx.state.surface = surface;
    await surface.middleware(ctx, next);
  });
  return app;
}

/**
 * The request log and the HTTP metrics: one event per request once its response is finished,
 * or with status 499 once the connection closed before that. Requests are collected and dealt
 * with once per event-loop turn: by then a response sent from memory is finished, so it needs no
 * 'close' listener. Bytes are what the socket read and wrote since the previous request on it
 * ended (request and status lines and headers included).
 */
function observeRequests(log: RequestLog | null, metrics: GlintMetrics | null, surfaces: readonly Surface[]): Middleware {
  if (!log && !metrics) return (_ctx, next) => next();
  const matchers = new Map(surfaces.map((surface) => [surface, routeMatcher(surface.routes())]));
  const marks = new WeakMap<Socket, { read: number; written: number }>();
  let pending: Array<{ ctx: Context; started: number; ip: string }> = [];
  let scheduled = false;
  const record = (ctx: Context, started: number, ip: string) => {
    const seconds = (performance.now() - started) / 1000;
    const status = ctx.res.writableFinished ? ctx.status : 499;
    const surface = claimingSurface(ctx);
    const surfaceName = surface?.name ?? 'server';
    const route = routeTemplate(ctx, surface && matchers.get(surface));
    const socket = ctx.req.socket;
    const mark = marks.get(socket) ?? { read: 0, written: 0 };
    const bytesIn = Math.max(0, socket.bytesRead - mark.read);
    const bytesOut = Math.max(0, socket.bytesWritten - mark.written);
    marks.set(socket, { read: socket.bytesRead, written: socket.bytesWritten });
    if (metrics) {
      metrics.httpRequests.inc({ surface: surfaceName, route, method: ctx.method, status: String(status) });
      metrics.httpDuration.observe({ surface: surfaceName, route, method: ctx.method }, seconds);
      metrics.httpBytesIn.inc({ surface: surfaceName, route }, bytesIn);
      metrics.httpBytesOut.inc({ surface: surfaceName, route }, bytesOut);
    }
    if (log) {
      const who = ctx.state.requestContext as RequestContext | undefined;
      const requestId = ctx.res.getHeader('x-openstack-request-id');
      log.info(
        {
          requestId: requestId === undefined ? null : String(requestId),
          surface: surfaceName,
          route,
          method: ctx.method,
          path: ctx.originalUrl,
          status,
          durationMs: Math.round(seconds * 1e6) / 1e3,
          bytesIn,
          bytesOut,
          user: who?.userId ?? null,
          project: who?.projectId ?? null,
          remoteAddress: ip,
        },
        `${ctx.method} ${ctx.originalUrl} ${status}`,
      );
    }
  };
  const flush = () => {
    scheduled = false;
    const requests = pending;
    pending = [];
    for (const { ctx, started, ip } of requests) {
      if (ctx.res.writableFinished || ctx.res.destroyed) record(ctx, started, ip);
      else ctx.res.once('close', () => record(ctx, started, ip));
    }
  };
  return async (ctx, next) => {
    const started = performance.now();
    // while the connection is up (a closed socket no longer knows its peer)
    const ip = ctx.req.socket.remoteAddress ?? '';
    metrics?.httpInFlight.inc();
    try {
      await next();
    } finally {
      metrics?.httpInFlight.dec();
      pending.push({ ctx, started, ip });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    }
  };
}

/** The route template that answered: the router's, the server's own, or the surface's list; else `unmatched`. */
function routeTemplate(ctx: Context, match: ((method: string, path: string) => string | undefined) | undefined): string {
  const own = ctx.state.route as string | undefined;
  if (own) return own;
  const routed = (ctx as Context & { _matchedRoute?: unknown })._matchedRoute;
  if (typeof routed === 'string') return openApiTemplate(routed);
  return match?.(ctx.method, ctx.path) ?? 'unmatched';
}

/**
 * The server's own routes, answered for every surface: the healthcheck, the metrics exposition
 * and the OpenAPI documents of api-spec/.
 */
export const SERVER_ROUTES: readonly SurfaceRoute[] = [
  { method: 'GET', path: '/healthcheck' },
  { method: 'HEAD', path: '/healthcheck' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/api-spec/{document}' },
];

/** Every route of the app: the server's and each surface's. */
export function listRoutes(surfaces: readonly Surface[]): Array<SurfaceRoute & { surface: string }> {
  return [
    ...SERVER_ROUTES.map((route) => ({ ...route, surface: 'server' })),
    ...surfaces.flatMap((surface) => surface.routes().map((route) => ({ ...route, surface: surface.name }))),
  ];
}

function serverRoutes(options: HttpAppOptions): Middleware {
  const specs = options.specs ?? new Map<string, string>();
  return async (ctx, next) => {
    const get = ctx.method === 'GET' || ctx.method === 'HEAD';
    if (ctx.path === '/healthcheck' && get) {
      ctx.state.route = '/healthcheck';
      ctx.status = ctx.method === 'GET' ? 200 : 204;
      ctx.type = 'text/plain';
      ctx.body = ctx.method === 'GET' ? 'OK' : null;
      return;
    }
    if (ctx.path === '/metrics' && ctx.method === 'GET' && options.metricsText) {
      ctx.state.route = '/metrics';
      ctx.status = 200;
      ctx.set('Content-Type', options.metrics?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8');
      ctx.body = await options.metricsText();
      return;
    }
    if (ctx.path.startsWith('/api-spec/') && ctx.method === 'GET') {
      ctx.state.route = '/api-spec/{document}';
      const text = specs.get(ctx.path.slice('/api-spec/'.length));
      if (text === undefined) {
        ctx.status = 404;
        ctx.type = 'text/plain; charset=UTF-8';
        ctx.body = `No such document. Served: ${[...specs.keys()].sort().join(', ')}`;
        return;
      }
      ctx.status = 200;
      ctx.set('Content-Type', 'application/yaml; charset=utf-8');
      ctx.body = text;
      return;
    }
    await next();
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
