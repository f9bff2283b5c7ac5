import type { Context, Middleware } from 'koa';
import type { GlintConfig } from '../../../config/types';
import { fail } from '../../../domain/errors';
import type { FileManagementService } from '../../../domain/file-management/service';
import type { HttpProblem } from '../../errors';
import { type Authenticator, NoAuthAuthenticator } from '../../identity';
import { assignRequestId, authenticateRequest, openApiTemplate, type Surface } from '../../surface';
import { BASE_PATH, createFileManagementRouter, type RouteRegistrar } from './router';

const CORS_METHODS = 'PUT, PATCH, POST, GET, DELETE, OPTIONS';
const CORS_HEADERS = 'Origin, X-Requested-With, Content-Type, Accept';

/**
 * EdgeGallery's VM image file management (`/image-management/v1`), as the Go file-system service
 * answered it: plain-text successes, JSON objects, errors as JSON string literals, CORS open to
 * every origin. Open like upstream unless glint runs the keystone flavour, where a valid token is
 * required as on every other surface. `extraRoutes` adds the chunked-upload routes.
 */
export function createFileManagementSurface(files: FileManagementService, config: GlintConfig, flavourAuthenticator: Authenticator, extraRoutes: RouteRegistrar[] = []): Surface {
  const authenticator = config.auth.flavor === 'keystone' ? flavourAuthenticator : new NoAuthAuthenticator();
  const router = createFileManagementRouter(files, extraRoutes);
  const routes = router.routes();
  const middleware: Middleware = async (ctx: Context) => {
    allowCors(ctx);
    const requestId = assignRequestId(ctx, authenticator);
    await authenticateRequest(ctx, authenticator, requestId);
    // the routes never call next: reaching it means no route matched the path and method
    await routes(ctx as Parameters<typeof routes>[0], async () => fail('ROUTE_NOT_FOUND', `no such route: ${ctx.method} ${ctx.path}`));
  };
  const listed = router.stack.flatMap((layer) =>
    layer.methods.filter((method) => method !== 'HEAD').map((method) => ({ method, path: openApiTemplate(String(layer.path)) })),
  );
  return {
    name: 'file-management',
    claims: (path) => path === BASE_PATH || path.startsWith(`${BASE_PATH}/`),
    formatError: writeFileManagementError,
    authenticator,
    middleware,
    routes: () => listed,
    preflight: allowCors,
  };
}

/** Upstream's CORS: every origin (echoed, since credentials are allowed), its methods and headers. */
function allowCors(ctx: Context): void {
  const origin = ctx.get('origin');
  ctx.set('Access-Control-Allow-Origin', origin || '*');
  if (origin) ctx.vary('Origin');
  ctx.set('Access-Control-Allow-Credentials', 'true');
  ctx.set('Access-Control-Allow-Methods', CORS_METHODS);
  ctx.set('Access-Control-Allow-Headers', CORS_HEADERS);
  ctx.set('Access-Control-Expose-Headers', 'Content-Length');
}

/** Errors as upstream writes them: the status, and the message as a JSON string literal. */
export function writeFileManagementError(ctx: Context, problem: HttpProblem): void {
  ctx.status = problem.status;
  for (const [name, value] of Object.entries(problem.headers)) ctx.set(name, value);
  const ownMessage = problem.code.startsWith('FILE_');
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(problem.expose || ownMessage ? problem.message : 'Internal Server Error');
}
