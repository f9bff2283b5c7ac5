import type { Context, Middleware, Next } from 'koa';
import type { GlintConfig } from '../../../config/types';
import type { ImageOps } from '../../../domain/imageops/contract';
import type { HttpProblem } from '../../errors';
import { type Authenticator, NoAuthAuthenticator } from '../../identity';
import { assignRequestId, authenticateRequest, type Surface } from '../../surface';
import { BASE_PATH, createDispatcher, createRoutes } from './router';

/**
 * EdgeGallery's imageops sidecar (`/api/v1/vmimage/check|compress` and their status queries)
 * inside glint. The sidecar had no authentication (it listened inside the file-system pod): the
 * surface is open unless glint runs the keystone flavour, where a valid token is required.
 * Errors are the bare message as text; client mistakes are 400 (decision 1), not upstream's 500.
 */
export function createImageOpsSurface(imageOps: ImageOps, config: GlintConfig, flavourAuthenticator: Authenticator): Surface {
  const authenticator = config.auth.flavor === 'keystone' ? flavourAuthenticator : new NoAuthAuthenticator();
  const routes = createRoutes(imageOps);
  const dispatch = createDispatcher(routes);
  const middleware: Middleware = async (ctx: Context, _next: Next) => {
    // flask-cors with its defaults: every origin
    ctx.set('Access-Control-Allow-Origin', '*');
    const requestId = assignRequestId(ctx, authenticator);
    const requestContext = await authenticateRequest(ctx, authenticator, requestId);
    await dispatch(ctx, requestContext);
  };
  return {
    name: 'imageops',
    claims: (path) => path === BASE_PATH || path.startsWith(`${BASE_PATH}/`),
    formatError: writeImageOpsError,
    authenticator,
    middleware,
    routes: () => routes.map((route) => ({ method: route.method, path: `${BASE_PATH}/${route.path}` })),
  };
}

/** imageops' error body: the bare message as text (5xx: the stock text, never internals). */
function writeImageOpsError(ctx: Context, problem: HttpProblem): void {
  ctx.status = problem.status;
  for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
  ctx.set('Access-Control-Allow-Origin', '*');
  ctx.type = 'text/plain; charset=utf-8';
  ctx.body = problem.expose ? problem.message : 'Internal Server Error';
}
