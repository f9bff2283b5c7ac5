import type { Context, Middleware, Next } from 'koa';
import type { GlintConfig } from '../../../config/types';
import { fail } from '../../../domain/errors';
import type { Services } from '../../../domain/services';
import type { Authenticator } from '../../identity';
import { assignRequestId, authenticateRequest, openApiTemplate, type Surface, type SurfaceRoute } from '../../surface';
import { writeGlanceError } from './error-body';
import { createV2Router, routingRules } from './router';
import { acceptedVersionSegments, negotiateVersion, versionsDocument } from './versions';

/**
 * The Glance surface: version documents and negotiation, then the /v2 API behind request ids
 * and identity. It answers every path no other surface claimed (unknown paths get the 300
 * versions document, as Glance does).
 */
export function createGlanceSurface(services: Services, config: GlintConfig, authenticator: Authenticator): Surface {
  const multiStore = config.stores.multiStore;
  const accepted = acceptedVersionSegments(multiStore);
  const router = createV2Router(services, config);
  const routes = router.routes();
  const rules = routingRules(router);
  // @koa/router runs the route matching path and method; only a request it leaves (no such route,
  // or HEAD, which it would hand to the GET route) goes to Glance's rules for 404/405/501.
  const dispatch = (ctx: Context, next: Next) =>
    ctx.method === 'HEAD' ? rules(ctx, next) : routes(ctx as Parameters<typeof routes>[0], () => rules(ctx, next));

  const sendVersions = (ctx: Context, status: number) => {
    ctx.status = status;
    ctx.set('Content-Type', 'application/json');
    ctx.body = JSON.stringify(versionsDocument(ctx, multiStore, config.server.publicEndpoint));
  };

  const middleware: Middleware = async (ctx: Context, next: Next) => {
    const path = ctx.path;
    if (path === '/versions' || path.startsWith('/versions/')) return sendVersions(ctx, 200);
    if (!negotiateVersion(ctx, accepted)) return sendVersions(ctx, 300);

    const requestId = assignRequestId(ctx, authenticator);
    if (path.includes('%')) {
      try {
        decodeURIComponent(path);
      } catch {
        fail('BAD_REQUEST', 'The URL is not valid UTF-8.');
      }
    }
    await authenticateRequest(ctx, authenticator, requestId);
    await dispatch(ctx, next);
  };
  // the version documents, then the /v2 routes (HEAD is never routed: Glance answers it 405)
  const listed: SurfaceRoute[] = [
    { method: 'GET', path: '/' },
    { method: 'GET', path: '/versions' },
    ...router.stack.flatMap((layer) =>
      layer.methods.filter((method) => method !== 'HEAD').map((method) => ({ method, path: openApiTemplate(String(layer.path)) })),
    ),
  ];
  return { name: 'glance-v2', claims: () => true, formatError: writeGlanceError, authenticator, middleware, routes: () => listed };
}
