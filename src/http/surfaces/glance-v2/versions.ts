import type { Context } from 'koa';

/** Version negotiation and the versions document (spec §4). */

const STOCK = ['v2.15', 'v2.9', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'];
const MULTI_STORE = ['v2.15', 'v2.13', 'v2.12', 'v2.11', 'v2.10', 'v2.9', 'v2.8', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1', 'v2.0'];

export function advertisedVersions(multiStore: boolean): string[] {
  return multiStore ? MULTI_STORE : STOCK;
}

/** Path prefixes served as /v2. */
export function acceptedVersionSegments(multiStore: boolean): Set<string> {
  return new Set(['v2', ...advertisedVersions(multiStore)]);
}

export function versionsDocument(ctx: Context, multiStore: boolean, publicEndpoint: string | null): Record<string, unknown> {
  const base = (publicEndpoint ?? `${ctx.protocol}://${ctx.host}`).replace(/\/+$/, '');
  const href = `${base}/v2/`;
  return {
    versions: advertisedVersions(multiStore).map((id, i) => ({
      id,
      status: i === 0 ? 'CURRENT' : 'SUPPORTED',
      links: [{ rel: 'self', href }],
    })),
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
