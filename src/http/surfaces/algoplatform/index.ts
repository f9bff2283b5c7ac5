import type { Context, Middleware, Next } from 'koa';
import type { GlintConfig } from '../../../config/types';
import type { AlgorithmService } from '../../../domain/algorithms/algorithm-service';
import { type Authenticator, NoAuthAuthenticator } from '../../identity';
import { assignRequestId, authenticateRequest, type Surface } from '../../surface';
import { writeAlgoPlatformError } from './envelope';
import { BASE_PATH, createDispatcher, createRoutes } from './router';

const PREFIX = '/algoPlatform';

/**
 * The algoPlatform algorithm-image registry (`POST /algoPlatform/images/_register|_search|
 * _update|_delete|_load|_upload`). The platform had no authentication of its own: the surface is
 * open unless glint runs the keystone flavour, where a valid token is required as on every other
 * surface. Who may delete what is still decided by the request's own `userResult`.
 */
export function createAlgoPlatformSurface(algorithms: AlgorithmService, config: GlintConfig, flavourAuthenticator: Authenticator): Surface {
  const authenticator = config.auth.flavor === 'keystone' ? flavourAuthenticator : new NoAuthAuthenticator();
  const routes = createRoutes({ algorithms, uploadSizeCap: config.algoPlatform.uploadSizeCap });
  const dispatch = createDispatcher(routes);
  const middleware: Middleware = async (ctx: Context, _next: Next) => {
    const requestId = assignRequestId(ctx, authenticator);
    await authenticateRequest(ctx, authenticator, requestId);
    await dispatch(ctx);
  };
  return {
    name: 'algoplatform',
    claims: (path) => path === PREFIX || path.startsWith(`${PREFIX}/`),
    formatError: writeAlgoPlatformError,
    authenticator,
    middleware,
    routes: () => [...routes.keys()].map((operation) => ({ method: 'POST', path: `${BASE_PATH}/${operation}` })),
  };
}
