import type { Context } from 'koa';
import type { RequestContext } from '../../../domain/context';
import { fail } from '../../../domain/errors';
import type { ImageOps } from '../../../domain/imageops/contract';
import { readJson } from '../../body';
import { GlintHttpError } from '../../errors';

export const BASE_PATH = '/api/v1/vmimage';

type Handler = (ctx: Context, requestContext: RequestContext, requestId?: string) => Promise<void>;

interface Route {
  method: 'GET' | 'POST';
  /** `check`, `compress`, `check/{requestId}` or `compress/{requestId}` under BASE_PATH. */
  path: string;
  handler: Handler;
}

/** The four imageops routes: parse → call the imageops service → present (JSON, HTTP 200). */
export function createRoutes(imageOps: ImageOps): Route[] {
  return [
    {
      method: 'POST',
      path: 'check',
      handler: async (ctx, requestContext) => {
        const body = await readBody(ctx);
        const name = requiredName(body, 'inputImageName');
        const imageId = await imageOps.resolveInputImage(requestContext, name);
        if (!imageId) fail('IMAGEOPS_IMAGE_NOT_FOUND', `Given image ${name} is not exist.`);
        ctx.body = await imageOps.startCheck(requestContext, imageId);
      },
    },
    {
      method: 'GET',
      path: 'check/{requestId}',
      handler: async (ctx, _requestContext, requestId = '') => {
        const { status, msg, checkInfo } = await imageOps.checkReport(requestId);
        ctx.body = { status, msg, checkInfo };
      },
    },
    {
      method: 'POST',
      path: 'compress',
      handler: async (ctx, requestContext) => {
        const body = await readBody(ctx);
        const input = requiredName(body, 'inputImageName');
        const output = requiredName(body, 'outputImageName');
        const imageId = await imageOps.resolveInputImage(requestContext, input);
        if (!imageId) fail('IMAGEOPS_IMAGE_NOT_FOUND', `Image ${input} is not exist.`);
        ctx.body = await imageOps.startCompress(requestContext, imageId, output);
      },
    },
    {
      method: 'GET',
      path: 'compress/{requestId}',
      handler: async (ctx, _requestContext, requestId = '') => {
        const { status, msg, rate } = await imageOps.compressReport(requestId);
        ctx.body = { status, msg, rate };
      },
    },
  ];
}

/** A JSON object body; an empty body reads as `{}` (the missing field then says what is lacking). */
async function readBody(ctx: Context): Promise<Record<string, unknown>> {
  if (ctx.get('content-length') === '0' || (!ctx.get('content-length') && !ctx.get('transfer-encoding'))) return {};
  const body = await readJson(ctx, 64 * 1024);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) fail('BAD_JSON', 'Expected a JSON object in the request body.');
  return body as Record<string, unknown>;
}

/** imageops' `Lacking <field> in request body.` for a missing or empty name; a non-string name is invalid. */
function requiredName(body: Record<string, unknown>, field: 'inputImageName' | 'outputImageName'): string {
  const value = body[field];
  if (value === undefined || value === null || value === '') fail('IMAGEOPS_FIELD_MISSING', `Lacking ${field} in request body.`);
  if (typeof value !== 'string') fail('IMAGEOPS_NAME_INVALID', `${field} is invalid`);
  return value;
}

/** Finds the route for the request: 404 for paths no route has, 405 for other methods. */
export function createDispatcher(routes: Route[]): (ctx: Context, requestContext: RequestContext) => Promise<void> {
  return async (ctx, requestContext) => {
    const rest = ctx.path.startsWith(`${BASE_PATH}/`) ? ctx.path.slice(BASE_PATH.length + 1) : '';
    const segments = rest.split('/');
    const matching = routes.filter((route) => {
      const template = route.path.split('/');
      return template.length === segments.length && template.every((part, i) => part.startsWith('{') || part === segments[i]) && segments.every((s) => s !== '');
    });
    if (matching.length === 0) fail('ROUTE_NOT_FOUND', 'The requested URL was not found on the server.');
    const route = matching.find((candidate) => candidate.method === ctx.method);
    if (!route) {
      const allowed = [...new Set(matching.map((candidate) => candidate.method))].join(', ');
      throw new GlintHttpError('METHOD_NOT_ALLOWED', 'The method is not allowed for the requested URL.').withHeaders({ Allow: allowed });
    }
    const requestId = segments.length === 2 ? decodedSegment(segments[1]) : undefined;
    await route.handler(ctx, requestContext, requestId);
  };
}

/** A path segment percent-decoded; a malformed escape (`%zz`) is kept as sent, as werkzeug does, so it names no job. */
function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
