import type { Context } from 'koa';

/**
 * Version negotiation and the versions document (spec §4), as Glance 2024.2+ (API 2.17) builds
 * them: v2.17 CURRENT, the older ones SUPPORTED, in Glance's order (2.15, the 2.9 or multi-store
 * block, then 2.17, then 2.7 … 2.0). glint has no image cache, so 2.14, 2.16 and 2.18 are not
 * advertised.
 */

const SINGLE_STORE_BLOCK = ['v2.9'];
const MULTI_STORE_BLOCK = ['v2.13', 'v2.12', 'v2.11', 'v2.10', 'v2.9', 'v2.8'];
const OLDER = ['v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'];
export const CURRENT_VERSION = 'v2.17';

/** The versions document's entries, in Glance's order. */
export function advertisedVersions(multiStore: boolean): Array<{ id: string; status: 'CURRENT' | 'SUPPORTED' }> {
  const supported = (id: string) => ({ id, status: 'SUPPORTED' as const });
  return [
    supported('v2.15'),
    ...(multiStore ? MULTI_STORE_BLOCK : SINGLE_STORE_BLOCK).map(supported),
    { id: CURRENT_VERSION, status: 'CURRENT' },
    ...OLDER.map(supported),
  ];
}

/**
 * Path prefixes served as /v2: every advertised version, and v2.16 (Glance accepts it only with
 * an image cache; glint serves it as the version between 2.15 and 2.17, as issue #15 asks).
 */
export function acceptedVersionSegments(multiStore: boolean): Set<string> {
  return new Set(['v2', 'v2.16', ...advertisedVersions(multiStore).map((v) => v.id)]);
}

export function versionsDocument(ctx: Context, multiStore: boolean, publicEndpoint: string | null): Record<string, unknown> {
  const base = (publicEndpoint ?? `${ctx.protocol}://${ctx.host}`).replace(/\/+$/, '');
  const href = `${base}/v2/`;
  return {
    versions: advertisedVersions(multiStore).map(({ id, status }) => ({ id, status, links: [{ rel: 'self', href }] })),
  };
}

/**
 * Maps the request onto the v2 API: `/v2.N/...` → `/v2/...`, or an Accept of
 * `application/vnd.openstack.images-v2[.N]` with an unversioned path. Returns false when the
 * request names no accepted version (the caller answers 300 with the versions document).
 */
export function negotiateVersion(ctx: Context, accepted: Set<string>): boolean {
  const match = /^\/([^/]+)(\/.*)?$/.exec(ctx.path);
  const first = match?.[1];
  if (first && accepted.has(first)) {
    if (first !== 'v2') ctx.path = `/v2${match?.[2] ?? ''}`;
    return true;
  }
  const accept = ctx.get('accept').trim();
  const vendor = /^application\/vnd\.openstack\.images-(.+)$/.exec(accept);
  if (vendor && accepted.has(vendor[1])) {
    ctx.path = `/v2${ctx.path === '/' ? '' : ctx.path}`;
    return true;
  }
  return false;
}
