import type Router from '@koa/router';
import type { Context } from 'koa';
import type { LimitsConfig } from '../../../../config/types';
import type { RequestContext } from '../../../../domain/context';
import { fail } from '../../../../domain/errors';
import type { MetadefVisibility } from '../../../../domain/metadefs/model';
import type { NamespaceSortKey } from '../../../../domain/metadefs/repository';
import type { MetadefService } from '../../../../domain/metadefs/service';
import { readJsonObject } from '../../../body';
import {
  presentAssociation,
  presentCreatedNamespace,
  presentListedNamespace,
  presentNamespace,
  presentNamespaceDetail,
  presentObject,
  presentObjectWritten,
  presentProperties,
  presentProperty,
  presentResourceType,
  presentTag,
} from './present';
import { checkTagName, parseAssociation, parseNamespace, parseObject, parseProperty, parseTag, parseTags } from './request';

type Params = Record<string, string>;
type Query = Record<string, string | string[] | undefined>;

const NS = '/v2/metadefs/namespaces';

/** The /v2/metadefs routes (Glance's metadef API), added to the Glance v2 router. */
export function addMetadefRoutes(router: Router, metadefs: MetadefService, limits: LimitsConfig): void {
  const who = (ctx: Context) => (ctx.state as { requestContext: RequestContext }).requestContext;
  const p = (ctx: Context, name: string) => (ctx as Context & { params: Params }).params[name];
  const ns = (ctx: Context) => p(ctx, 'namespace');
  const json = (ctx: Context, status: number, body: unknown) => {
    ctx.status = status;
    ctx.body = JSON.stringify(body);
    ctx.set('Content-Type', 'application/json');
  };
  const noContent = (ctx: Context) => {
    ctx.status = 204;
    ctx.body = null;
  };

  // ---- namespaces ---------------------------------------------------------------------------
  router.get(NS, async (ctx) => {
    const query = ctx.query as Query;
    const page = await metadefs.listNamespaces(who(ctx), parseNamespaceList(query, limits));
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (key === 'marker' || value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) params.append(key, v);
    }
    const body: Record<string, unknown> = { namespaces: page.namespaces.map((n) => presentListedNamespace(n.namespace, n.associations)) };
    if (page.next !== null) {
      const next = new URLSearchParams(params);
      next.append('marker', page.next);
      body.next = `${NS}?${next}`;
    }
    body.schema = '/v2/schemas/metadefs/namespaces';
    body.first = params.toString() ? `${NS}?${params}` : NS;
    json(ctx, 200, body);
  });
  router.post(NS, async (ctx) => {
    const { fields, contents } = parseNamespace(await readJsonObject(ctx));
    const namespace = await metadefs.createNamespace(who(ctx), fields, contents);
    ctx.set('Location', `${ctx.protocol}://${ctx.host}${NS}/${namespace.namespace}`);
    json(ctx, 201, presentCreatedNamespace(namespace, contents));
  });
  router.get(`${NS}/:namespace`, async (ctx) => {
    const resourceType = single(ctx.query as Query, 'resource_type');
    json(ctx, 200, presentNamespaceDetail(await metadefs.getNamespace(who(ctx), ns(ctx)), resourceType));
  });
  router.put(`${NS}/:namespace`, async (ctx) => {
    const { fields } = parseNamespace(await readJsonObject(ctx));
    json(ctx, 200, presentNamespace(await metadefs.updateNamespace(who(ctx), ns(ctx), fields)));
  });
  router.delete(`${NS}/:namespace`, async (ctx) => {
    await metadefs.deleteNamespace(who(ctx), ns(ctx));
    noContent(ctx);
  });
  for (const kind of ['objects', 'properties', 'tags'] as const) {
    router.delete(`${NS}/:namespace/${kind}`, async (ctx) => {
      await metadefs.deleteContents(who(ctx), ns(ctx), kind);
      noContent(ctx);
    });
  }

  // ---- objects ------------------------------------------------------------------------------
  router.get(`${NS}/:namespace/objects`, async (ctx) => {
    const namespace = ns(ctx);
    const objects = await metadefs.listObjects(who(ctx), namespace);
    json(ctx, 200, { objects: objects.map((o) => presentObject(namespace, o)), schema: 'v2/schemas/metadefs/objects' });
  });
  router.post(`${NS}/:namespace/objects`, async (ctx) => {
    const body = await readJsonObject(ctx);
    const object = await metadefs.createObject(who(ctx), ns(ctx), parseObject(body));
    json(ctx, 201, presentObjectWritten(ns(ctx), object, body));
  });
  router.get(`${NS}/:namespace/objects/:object_name`, async (ctx) => {
    json(ctx, 200, presentObject(ns(ctx), await metadefs.getObject(who(ctx), ns(ctx), p(ctx, 'object_name'))));
  });
  router.put(`${NS}/:namespace/objects/:object_name`, async (ctx) => {
    const body = await readJsonObject(ctx);
    const object = await metadefs.updateObject(who(ctx), ns(ctx), p(ctx, 'object_name'), parseObject(body));
    json(ctx, 200, presentObjectWritten(ns(ctx), object, body));
  });
  router.delete(`${NS}/:namespace/objects/:object_name`, async (ctx) => {
    await metadefs.deleteObject(who(ctx), ns(ctx), p(ctx, 'object_name'));
    noContent(ctx);
  });

  // ---- properties ---------------------------------------------------------------------------
  router.get(`${NS}/:namespace/properties`, async (ctx) => json(ctx, 200, presentProperties(await metadefs.listProperties(who(ctx), ns(ctx)))));
  router.post(`${NS}/:namespace/properties`, async (ctx) => {
    json(ctx, 201, presentProperty(await metadefs.createProperty(who(ctx), ns(ctx), parseProperty(await readJsonObject(ctx)))));
  });
  router.get(`${NS}/:namespace/properties/:property_name`, async (ctx) => {
    const resourceType = single(ctx.query as Query, 'resource_type');
    json(ctx, 200, presentProperty(await metadefs.getProperty(who(ctx), ns(ctx), p(ctx, 'property_name'), resourceType)));
  });
  router.put(`${NS}/:namespace/properties/:property_name`, async (ctx) => {
    const property = await metadefs.updateProperty(who(ctx), ns(ctx), p(ctx, 'property_name'), parseProperty(await readJsonObject(ctx)));
    json(ctx, 200, presentProperty(property));
  });
  router.delete(`${NS}/:namespace/properties/:property_name`, async (ctx) => {
    await metadefs.deleteProperty(who(ctx), ns(ctx), p(ctx, 'property_name'));
    noContent(ctx);
  });

  // ---- tags ---------------------------------------------------------------------------------
  router.get(`${NS}/:namespace/tags`, async (ctx) => {
    const query = ctx.query as Query;
    const tags = await metadefs.listTags(who(ctx), ns(ctx), {
      sort: { key: sortKey(query, ['created_at', 'updated_at', 'name'] as const, 'created_at'), dir: sortDir(query) },
      limit: limitParam(query, limits, false),
      markerName: single(query, 'marker'),
    });
    json(ctx, 200, { tags: tags.map((t) => ({ name: t.name })) });
  });
  router.post(`${NS}/:namespace/tags`, async (ctx) => {
    const names = parseTags(await readJsonObject(ctx));
    const append = /^(1|t|true|on|y|yes)$/i.test(ctx.get('x-openstack-append').trim());
    const tags = await metadefs.createTags(who(ctx), ns(ctx), names, append);
    json(ctx, 201, { tags: tags.map((t) => ({ name: t.name })) });
  });
  router.get(`${NS}/:namespace/tags/:tag_name`, async (ctx) => json(ctx, 200, presentTag(await metadefs.getTag(who(ctx), ns(ctx), p(ctx, 'tag_name')))));
  router.post(`${NS}/:namespace/tags/:tag_name`, async (ctx) => {
    json(ctx, 201, presentTag(await metadefs.createTag(who(ctx), ns(ctx), checkTagName(p(ctx, 'tag_name')))));
  });
  router.put(`${NS}/:namespace/tags/:tag_name`, async (ctx) => {
    const tag = await metadefs.renameTag(who(ctx), ns(ctx), p(ctx, 'tag_name'), parseTag(await readJsonObject(ctx)));
    json(ctx, 200, presentTag(tag));
  });
  router.delete(`${NS}/:namespace/tags/:tag_name`, async (ctx) => {
    await metadefs.deleteTag(who(ctx), ns(ctx), p(ctx, 'tag_name'));
    noContent(ctx);
  });

  // ---- resource types -----------------------------------------------------------------------
  router.get('/v2/metadefs/resource_types', async (ctx) => {
    json(ctx, 200, { resource_types: (await metadefs.listResourceTypes(who(ctx))).map(presentResourceType) });
  });
  router.get(`${NS}/:namespace/resource_types`, async (ctx) => {
    json(ctx, 200, { resource_type_associations: (await metadefs.listAssociations(who(ctx), ns(ctx))).map(presentAssociation) });
  });
  router.post(`${NS}/:namespace/resource_types`, async (ctx) => {
    const association = await metadefs.createAssociation(who(ctx), ns(ctx), parseAssociation(await readJsonObject(ctx)));
    json(ctx, 201, presentAssociation(association));
  });
  router.delete(`${NS}/:namespace/resource_types/:resource_type`, async (ctx) => {
    await metadefs.deleteAssociation(who(ctx), ns(ctx), p(ctx, 'resource_type'));
    noContent(ctx);
  });
}

function single(query: Query, name: string): string | undefined {
  const value = query[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

function sortDir(query: Query): 'asc' | 'desc' {
  const dir = single(query, 'sort_dir') ?? 'desc';
  if (dir !== 'asc' && dir !== 'desc') fail('BAD_QUERY', `Invalid sort direction: ${dir}`);
  return dir;
}

function sortKey<K extends string>(query: Query, allowed: readonly K[], fallback: K): K {
  const key = single(query, 'sort_key') ?? fallback;
  // Glance answers 500 for an unknown key (the database refuses it); glint says which
  if (!(allowed as readonly string[]).includes(key)) fail('BAD_QUERY', `Invalid sort key: ${key}. It must be one of the following: ${allowed.join(', ')}.`);
  return key as K;
}

function limitParam(query: Query, limits: LimitsConfig, withDefault: boolean): number | undefined {
  const text = single(query, 'limit');
  if (text === undefined) return withDefault ? Math.min(limits.limitParamDefault, limits.apiLimitMax) : undefined;
  if (!/^-?\d+$/.test(text.trim())) fail('BAD_QUERY', 'limit param must be an integer');
  const limit = Number(text);
  if (limit < 0) fail('BAD_QUERY', 'limit param must be positive');
  return Math.min(limit, limits.apiLimitMax);
}

function parseNamespaceList(query: Query, limits: LimitsConfig) {
  const visibility = single(query, 'visibility');
  if (visibility && visibility !== 'public' && visibility !== 'private') fail('BAD_QUERY', `Invalid visibility value: ${visibility}`);
  const resourceTypes = single(query, 'resource_types');
  return {
    visibility: (visibility || undefined) as MetadefVisibility | undefined,
    resourceTypes: resourceTypes ? resourceTypes.split(',').map((t) => t.trim()).filter((t) => t.length > 0) : undefined,
    sort: { key: sortKey<NamespaceSortKey>(query, ['created_at', 'updated_at', 'namespace'], 'created_at'), dir: sortDir(query) },
    marker: single(query, 'marker'),
    limit: limitParam(query, limits, true) as number,
  };
}
