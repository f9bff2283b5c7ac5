import type { Context } from 'koa';
import { fail } from '../../../domain/errors';

const BODY_TRANSFER_CODINGS = ['chunked', 'compress', 'deflate', 'gzip', 'identity'];

/** Glance's notion of "the request has a body" (spec §1.5). */
export function hasBody(ctx: Context): boolean {
  const length = ctx.get('content-length');
  if (length && Number(length) > 0) return true;
  if (!['POST', 'PUT', 'PATCH'].includes(ctx.method)) return false;
  const coding = ctx.get('transfer-encoding').toLowerCase();
  return coding.length > 0 && coding.split(',').some((c) => BODY_TRANSFER_CODINGS.includes(c.trim()));
}

export function rejectBody(ctx: Context): void {
  if (hasBody(ctx)) fail('BODY_NOT_ALLOWED', 'This operation does not take a request body.');
}
