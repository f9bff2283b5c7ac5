import Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import type { GlintConfig } from '../../../config/types';
import { fail } from '../../../domain/errors';
import type { RequestContext } from '../../../domain/context';
import type { IncomingData } from '../../../domain/image-data';
import type { Services } from '../../../domain/services';
import { clientAbortSignal, contentLength, mediaType, readJson, readJsonObject, releaseRequestBody, requestBodyStream } from '../../body';
import { GlintHttpError } from '../../errors';
import { rejectBody } from './body-rules';
import { resolveRequestedRange } from '../../range';
import { type GlanceImageRules, parseCreateImage, toImageChanges } from './image-request';
import { parseImportRequest, parseLegacyImportTask } from './import-request';
import { assertPatchMediaType, parsePatchDocument } from './patch';
import { addLocationRoutes, splitLocationOperations } from './locations';
import { parseListQuery, type QueryParams } from './list-query';
import { presentImage, presentImageTask, presentMember, presentTask, presentTaskStub, presentUsage, type ImagePresentation } from './present';
import { glanceStoreProperties } from './store-properties';
import { asUnsupportedMediaType, declaredImageSize } from './upload-rules';
import { imageSchema, imagesSchema, memberSchema, membersSchema, taskSchema, tasksSchema } from './schemas';
import { addMetadefRoutes } from './metadefs/router';
import { metadefSchema } from './metadefs/schemas';

type State = { requestContext: RequestContext };
type GlanceContext = Context & { state: State; params: Record<string, string> };

const JSON_TYPE = 'application/json';

/** The /v2 routes. Each handler parses, calls one service method, and presents the result. */
export function createV2Router(services: Services, config: GlintConfig): Router {
  const router = new Router({ strict: true, sensitive: true });
  const presentation: ImagePresentation = {
    multiStore: services.data.multiStore,
    locationUrl: (location) => services.data.locationUrl(location),
    showDirectUrl: config.images.showImageDirectUrl,
    showLocations: config.images.showMultipleLocations,
  };
  const present = (image: Parameters<typeof presentImage>[0]) => presentImage(image, presentation);
  const imageRules: GlanceImageRules = { formats: config.images, showMultipleLocations: config.images.showMultipleLocations };
  const who = (ctx: Context) => (ctx as GlanceContext).state.requestContext;
  const json = (ctx: Context, status: number, body: unknown) => {
    ctx.status = status;
    ctx.body = JSON.stringify(body);
    ctx.set('Content-Type', JSON_TYPE);
  };
  const noContent = (ctx: Context) => {
    ctx.status = 204;
    ctx.body = null;
  };
  const param = (ctx: Context, name: string) => (ctx as GlanceContext).params[name];
  // ids are looked up as given: an image created with an upper-case id keeps it (Glance on SQLite)
  const idParam = (ctx: Context) => param(ctx, 'id');
  const withoutBody = (handler: (ctx: Context) => Promise<void> | void) => async (ctx: Context) => {
    rejectBody(ctx);
    await handler(ctx);
  };

  // ---- images ----------------------------------------------------------------------------
  router.get('/v2/images', async (ctx) => {
    const params = ctx.query as QueryParams;
    const page = await services.images.listImages(who(ctx), parseListQuery(params));
    const links = pageLinks('/v2/images', params, page.mayHaveMore ? page.images[page.images.length - 1].id : null);
    const body: Record<string, unknown> = { images: page.images.map(present), first: links.first, schema: '/v2/schemas/images' };
    if (links.next) body.next = links.next;
    json(ctx, 200, body);
  });

  router.post('/v2/images', async (ctx) => {
    const image = await services.images.createImage(who(ctx), parseCreateImage(await readJsonObject(ctx), config.images));
    ctx.set('Location', `${ctx.protocol}://${ctx.host}/v2/images/${image.id}`);
    const methods = services.imports.enabledMethods();
    if (methods.length > 0) ctx.set('OpenStack-image-import-methods', methods.join(','));
    if (services.data.multiStore) ctx.set('OpenStack-image-store-ids', services.data.storesInfo().map((s) => s.id).join(','));
    json(ctx, 201, present(image));
  });

  router.get('/v2/images/:id', withoutBody(async (ctx) => json(ctx, 200, present(await services.images.getImage(who(ctx), idParam(ctx))))));

  router.patch('/v2/images/:id', async (ctx) => {
    const dialect = assertPatchMediaType(mediaType(ctx));
    const { locations, others } = splitLocationOperations(parsePatchDocument(await readJson(ctx), dialect));
    const changes = toImageChanges(others, imageRules);
    const updated =
      locations.length > 0
        ? await services.locations.patch(who(ctx), idParam(ctx), changes, locations)
        : await services.images.updateImage(who(ctx), idParam(ctx), changes);
    json(ctx, 200, present(updated));
  });

  router.delete('/v2/images/:id', withoutBody(async (ctx) => {
    await services.images.deleteImage(who(ctx), idParam(ctx));
    noContent(ctx);
  }));

  for (const action of ['deactivate', 'reactivate'] as const) {
    router.post(`/v2/images/:id/actions/${action}`, withoutBody(async (ctx) => {
      await services.images[action](who(ctx), idParam(ctx));
      noContent(ctx);
    }));
  }

  // ---- data ------------------------------------------------------------------------------
  /** Runs a data-receiving service call with the request body, releasing the body whatever happens. */
  const withIncomingData = async (ctx: Context, receive: (data: IncomingData) => Promise<unknown>) => {
    if (mediaType(ctx) !== 'application/octet-stream') fail('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/octet-stream, not ${ctx.get('content-type') || '(none)'}.`);
    const storeId = ctx.get('x-image-meta-store') || undefined;
    const length = contentLength(ctx);
    const expectedSize = declaredImageSize(ctx);
    const body = requestBodyStream(ctx);
    try {
      await receive({ body, contentLength: length, expectedSize, storeId, signal: clientAbortSignal(ctx) });
    } finally {
      releaseRequestBody(ctx, body);
    }
  };

  router.put('/v2/images/:id/file', async (ctx) => {
    await withIncomingData(ctx, (data) => services.data.upload(who(ctx), idParam(ctx), data).catch(asUnsupportedMediaType));
    noContent(ctx);
  });

  router.get('/v2/images/:id/file', withoutBody(async (ctx) => {
    const result = await services.data.read(who(ctx), idParam(ctx), (size) =>
      resolveRequestedRange(ctx.get('range') || undefined, ctx.get('content-range') || undefined, size),
    );
    if (result.kind === 'empty') return noContent(ctx);
    ctx.status = result.range ? 206 : 200;
    ctx.set('Content-Type', 'application/octet-stream');
    if (result.range) ctx.set('Content-Range', `bytes ${result.range.start}-${result.range.end}/${result.totalSize}`);
    if (result.checksum) ctx.set('Content-MD5', result.checksum);
    ctx.length = result.length;
    // a Buffer (small ranges and images) goes out in one write; a stream is piped
    ctx.body = result.body;
  }));

  router.put('/v2/images/:id/stage', async (ctx) => {
    await withIncomingData(ctx, (data) => services.data.stage(who(ctx), idParam(ctx), data));
    noContent(ctx);
  });

  router.post('/v2/images/:id/import', async (ctx) => {
    const body = await readJsonObject(ctx);
    const request = parseImportRequest(body, ctx.get('x-image-meta-store') || undefined, {
      enabledMethods: services.imports.enabledMethods(),
      multiStore: services.data.multiStore,
    });
    await services.imports.startImport(who(ctx), idParam(ctx), request);
    // body first: Koa turns a null body into 204 unless the status is set afterwards
    ctx.body = null;
    ctx.status = 202;
  });

  router.get('/v2/images/:id/tasks', async (ctx) => {
    const tasks = await services.imports.listImageTasks(who(ctx), idParam(ctx));
    json(ctx, 200, { tasks: tasks.map(presentImageTask) });
  });

  router.delete('/v2/stores/:store/:id', withoutBody(async (ctx) => {
    await services.data.deleteFromStore(who(ctx), param(ctx, 'store'), idParam(ctx));
    noContent(ctx);
  }));

  // ---- locations (locations.ts) -----------------------------------------------------------
  addLocationRoutes(router, services, idParam);

  // ---- tags ------------------------------------------------------------------------------
  const tagParam = (ctx: Context) => {
    const tag = param(ctx, 'tag');
    if (tag.includes('/')) fail('ROUTE_NOT_FOUND', 'The resource could not be found.');
    return tag;
  };
  router.put('/v2/images/:id/tags/:tag', withoutBody(async (ctx) => {
    await services.images.addTag(who(ctx), idParam(ctx), tagParam(ctx));
    noContent(ctx);
  }));
  router.delete('/v2/images/:id/tags/:tag', withoutBody(async (ctx) => {
    await services.images.removeTag(who(ctx), idParam(ctx), tagParam(ctx));
    noContent(ctx);
  }));

  // ---- members ---------------------------------------------------------------------------
  router.get('/v2/images/:id/members', withoutBody(async (ctx) => {
    const members = await services.images.listMembers(who(ctx), idParam(ctx));
    json(ctx, 200, { members: members.map(presentMember), schema: '/v2/schemas/members' });
  }));
  router.post('/v2/images/:id/members', async (ctx) => {
    const body = await readJsonObject(ctx);
    if (!('member' in body)) fail('BAD_REQUEST', 'Member to be added not specified');
    const member = body.member;
    if (typeof member !== 'string' && typeof member !== 'number') fail('BAD_REQUEST', 'Member must be a string.');
    const memberId = String(member);
    if (memberId.length === 0) fail('BAD_REQUEST', 'Member can not be empty.');
    json(ctx, 200, presentMember(await services.images.addMember(who(ctx), idParam(ctx), memberId)));
  });
  router.get('/v2/images/:id/members/:member', withoutBody(async (ctx) => {
    json(ctx, 200, presentMember(await services.images.getMember(who(ctx), idParam(ctx), param(ctx, 'member'))));
  }));
  router.put('/v2/images/:id/members/:member', async (ctx) => {
    const body = await readJsonObject(ctx);
    if (!('status' in body)) fail('BAD_REQUEST', 'Status not specified');
    json(ctx, 200, presentMember(await services.images.updateMember(who(ctx), idParam(ctx), param(ctx, 'member'), body.status)));
  });
  router.delete('/v2/images/:id/members/:member', withoutBody(async (ctx) => {
    await services.images.removeMember(who(ctx), idParam(ctx), param(ctx, 'member'));
    noContent(ctx);
  }));

  // ---- schemas ---------------------------------------------------------------------------
  const image = () => imageSchema(config.images);
  const schemas: Record<string, () => Record<string, unknown>> = {
    image,
    images: () => imagesSchema(image()),
    member: memberSchema,
    members: membersSchema,
    task: taskSchema,
    tasks: tasksSchema,
  };
  for (const [name, build] of Object.entries(schemas)) {
    router.get(`/v2/schemas/${name}`, withoutBody((ctx) => json(ctx, 200, build())));
  }
  router.get('/v2/schemas/metadefs/:kind', withoutBody((ctx) => {
    const schema = metadefSchema(param(ctx, 'kind'));
    if (!schema) fail('ROUTE_NOT_FOUND', 'The resource could not be found.');
    json(ctx, 200, schema);
  }));

  // ---- metadefs (src/http/surfaces/glance-v2/metadefs) ------------------------------------
  addMetadefRoutes(router, services.metadefs, config.limits);

  // ---- info ------------------------------------------------------------------------------
  router.get('/v2/info/import', withoutBody((ctx) => {
    json(ctx, 200, {
      'import-methods': { description: 'Import methods available.', type: 'array', value: [...services.imports.enabledMethods()] },
    });
  }));
  const storeList = (detail: boolean) =>
    services.data.storesInfo().map((s) => {
      const entry: Record<string, unknown> = { id: s.id };
      if (s.description) entry.description = s.description;
      if (s.isDefault) entry.default = 'true';
      if (detail) {
        entry.type = s.type;
        entry.properties = glanceStoreProperties(s.details);
      }
      return entry;
    });
  router.get('/v2/info/stores', withoutBody((ctx) => {
    if (!services.data.multiStore) fail('STORE_NOT_ENABLED', 'Multi backend is not supported at this site.');
    json(ctx, 200, { stores: storeList(false) });
  }));
  router.get('/v2/info/stores/detail', withoutBody((ctx) => {
    if (!services.data.multiStore) fail('STORE_NOT_ENABLED', 'Multi backend is not supported at this site.');
    services.images.authorize(who(ctx), 'stores_info_detail', {}, 'You are not authorized to view store details.');
    json(ctx, 200, { stores: storeList(true) });
  }));
  router.get('/v2/info/usage', async (ctx) => {
    if (ctx.get('content-length') && Number(ctx.get('content-length')) > 0) fail('BODY_NOT_ALLOWED', 'This operation does not take a request body.');
    json(ctx, 200, { usage: presentUsage(await services.data.storageUsage(who(ctx))) });
  });

  // ---- tasks -----------------------------------------------------------------------------
  router.get('/v2/tasks', async (ctx) => {
    const q = ctx.query as QueryParams;
    const one = (name: string) => {
      const v = q[name];
      return Array.isArray(v) ? v[v.length - 1] : v;
    };
    const limitText = one('limit');
    if (limitText !== undefined && !/^\d+$/.test(limitText)) fail('BAD_QUERY', 'limit param must be a non-negative integer');
    const page = await services.imports.listTasks(who(ctx), {
      limit: limitText === undefined ? undefined : Number(limitText),
      marker: one('marker'),
      type: one('type'),
      status: one('status'),
      sortKey: one('sort_key'),
      sortDir: one('sort_dir'),
    });
    const links = pageLinks('/v2/tasks', q, page.mayHaveMore ? page.tasks[page.tasks.length - 1].id : null);
    const body: Record<string, unknown> = { tasks: page.tasks.map(presentTaskStub), first: links.first, schema: '/v2/schemas/tasks' };
    if (links.next) body.next = links.next;
    json(ctx, 200, body);
  });
  router.post('/v2/tasks', async (ctx) => {
    const body = await readJsonObject(ctx);
    // the tasks API is admin-only, whatever the body says
    services.images.authorize(who(ctx), 'tasks_api_access', undefined, 'You are not authorized to use the tasks API.');
    const task = await services.imports.createTask(who(ctx), parseLegacyImportTask(body, config.images));
    ctx.set('Location', `${ctx.protocol}://${ctx.host}/v2/tasks/${task.id}`);
    json(ctx, 201, presentTask(task));
  });
  router.get('/v2/tasks/:id', async (ctx) => json(ctx, 200, presentTask(await services.imports.getTask(who(ctx), idParam(ctx)))));
  router.delete('/v2/tasks/:id', async (ctx) => {
    services.images.authorize(who(ctx), 'tasks_api_access', undefined, 'You are not authorized to delete tasks.');
    throw new GlintHttpError('METHOD_NOT_ALLOWED', 'The method DELETE is not allowed for this resource.').withHeaders({ Allow: 'GET' });
  });

  return router;
}

/**
 * `first` and `next` links of a paged list (spec §7): root-relative, the request's query without
 * `marker`, every repeated value kept; `next` adds the last id as marker when another page may follow.
 */
function pageLinks(path: string, params: QueryParams, lastId: string | null): { first: string; next?: string } {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (key === 'marker' || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) query.append(key, v);
  }
  const first = query.toString() ? `${path}?${query}` : path;
  if (lastId === null) return { first };
  query.append('marker', lastId);
  return { first, next: `${path}?${query}` };
}

/**
 * Glance's routing rules for what the router does not handle (spec §1.3–1.4): unknown path → 404 for the usual
 * verbs and 501 for others; known path with another verb → 405 + Allow; HEAD never falls through
 * to GET handlers.
 */
export function routingRules(router: Router): Middleware {
  const standard = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH']);
  return async (ctx: Context, next: Next) => {
    const matched = router.match(ctx.path, ctx.method);
    const allowed = new Set<string>();
    for (const layer of matched.path) for (const m of layer.methods) if (m !== 'HEAD') allowed.add(m);
    if (allowed.size === 0) {
      if (!standard.has(ctx.method)) fail('NOT_IMPLEMENTED', 'The server does not support the requested method.');
      fail('ROUTE_NOT_FOUND', 'The resource could not be found.');
    }
    if (ctx.method === 'HEAD' || !allowed.has(ctx.method)) {
      const order = ['GET', 'PATCH', 'POST', 'PUT', 'DELETE'];
      const allow = order.filter((m) => allowed.has(m)).join(', ');
      throw new GlintHttpError('METHOD_NOT_ALLOWED', 'The method is not allowed for this resource.').withHeaders({ Allow: allow });
    }
    await next();
  };
}
