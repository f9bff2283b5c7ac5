import type { Context, Middleware } from 'koa';
import type { RequestContext } from '../domain/context';
import { isGlintError } from '../domain/errors';
import type { HttpProblem } from './errors';
import { type Authenticator, requestIdFor } from './identity';

/**
 * One API surface on the shared Koa server (src/http/surfaces/<name>/). The server gives every
 * surface the access log and the error boundary, and `assignRequestId` / `authenticateRequest`
 * give request ids and identity;
 * the surface brings its paths, its authentication rule, its error body and its routes, which
 * parse the request, call the domain services and present the result.
 */
export interface Surface {
  readonly name: string;
  /** Whether this surface answers `path`. The server asks the surfaces in order; the last may claim every path. */
  claims(path: string): boolean;
  /** Writes a failed request's answer in this surface's own body format (status and headers are in `problem`). */
  formatError(ctx: Context, problem: HttpProblem): void;
  /** Who may call this surface: the configured flavour, or the surface's own rule. */
  readonly authenticator: Authenticator;
  /** Handles a claimed request. Unknown paths under the surface are its own to answer (404, 405…). */
  readonly middleware: Middleware;
  /**
   * Every route the surface answers, templates in OpenAPI form (`/v2/images/{id}`). Metrics label
   * requests by these templates, and a test checks that api-spec/ documents each of them.
   */
  routes(): SurfaceRoute[];
  /** Headers for an OPTIONS (CORS preflight) request to a claimed path, which the server answers itself. */
  preflight?(ctx: Context): void;
}

/** One method on one path template (`{name}` for a path parameter). */
export interface SurfaceRoute {
  method: string;
  path: string;
}

/** `/v2/images/:id` (koa-router) → `/v2/images/{id}` (OpenAPI). */
export function openApiTemplate(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** Finds the template of the route answering `method` on `path`, or undefined. */
export function routeMatcher(routes: readonly SurfaceRoute[]): (method: string, path: string) => string | undefined {
  const compiled = routes.map((route) => ({
    method: route.method,
    template: route.path,
    params: (route.path.match(/\{/g) ?? []).length,
    pattern: new RegExp(`^${route.path.split('/').map((s) => (/^\{[^}]+\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$`),
  }));
  // literal routes win over templated ones
  compiled.sort((a, b) => a.params - b.params);
  return (method, path) => compiled.find((route) => route.method === method && route.pattern.test(path))?.template;
}

/**
 * The request id: `x-openstack-request-id` on the response, adopted from the client where the
 * authenticator says so (a malformed one is a 400 that still carries a fresh id).
 */
export function assignRequestId(ctx: Context, authenticator: Authenticator): string {
  let requestId: string;
  try {
    requestId = requestIdFor(ctx, authenticator.adoptsRequestId);
  } catch (err) {
    ctx.set('x-openstack-request-id', requestIdFor(ctx, false));
    throw err;
  }
  ctx.set('x-openstack-request-id', requestId);
  return requestId;
}

/**
 * The caller's identity by `authenticator`, kept in `ctx.state.requestContext`. A 401 carries the
 * authenticator's WWW-Authenticate challenge.
 */
export async function authenticateRequest(ctx: Context, authenticator: Authenticator, requestId: string): Promise<RequestContext> {
  try {
    const requestContext = await authenticator.authenticate(ctx, requestId);
    ctx.state.requestContext = requestContext;
    return requestContext;
  } catch (err) {
    if (authenticator.wwwAuthenticate && isGlintError(err, 'UNAUTHENTICATED')) ctx.set('WWW-Authenticate', authenticator.wwwAuthenticate);
    throw err;
  }
}

/** The surface that claimed the request, once the server has dispatched it. */
export function claimingSurface(ctx: Context): Surface | undefined {
  return ctx.state.surface as Surface | undefined;
}
