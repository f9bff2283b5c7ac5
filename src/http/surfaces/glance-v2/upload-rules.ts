import type { Context } from 'koa';
import { fail, GlintError } from '../../../domain/errors';
import { GlintHttpError } from '../../errors';

/**
 * `X-OpenStack-Image-Size` on PUT /file and /stage (Glance 2025.2): the number of bytes the client
 * will send. A value that is not a non-negative integer → 400; 0 means "unknown", as in Glance
 * (glance_store checks the count only for a non-zero size). The write then fails with 400 when
 * the data is longer or shorter, and the owner's quota is checked against it before any byte is
 * read.
 */
export function declaredImageSize(ctx: Context): number | undefined {
  const raw = ctx.get('x-openstack-image-size');
  if (raw === '') return undefined;
  const text = raw.trim();
  if (!/^\+?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) fail('BAD_REQUEST', 'Invalid or missing image size in request headers.');
  const size = Number(text);
  return size === 0 ? undefined : size;
}

/**
 * PUT /file answers data that fails format inspection (not its disk_format, or unsafe) with 415,
 * as Glance 2024.2+ does: WebOb's stock explanation with the inspector's finding as the detail.
 * Staging and imports keep the 400 (Glance checks staged data only when it imports it).
 */
export function asUnsupportedMediaType(err: unknown): never {
  if (err instanceof GlintError && err.code === 'IMAGE_DATA_INVALID') {
    const finding = err.detail ? `${err.message}: ${err.detail}` : err.message;
    throw new GlintHttpError('UNSUPPORTED_MEDIA_TYPE', 'The request media type application/octet-stream is not supported by this server.', finding, { cause: err });
  }
  throw err;
}
