import type { RequestContext } from '../context';
import { fail } from '../errors';
import type { Image } from '../image';
import type { ImageService } from '../image-service';

/**
 * Who may use the location operations: Glance's policy rules, through the image service's
 * enforcer (src/domain/policy), plus the controller's own rule for the add API.
 * - `add_image_location` (POST .../locations): the service role or a member of the owning project
 *   by policy; then Glance refuses everyone without the `service` role unless an `http` store is
 *   configured, which glint has not.
 * - `fetch_image_location` (GET .../locations): the `service` role.
 * - `set_image_location` / `delete_image_location` (PATCH of /locations), with the legacy owner
 *   check while the legacy rules apply.
 */
export class LocationPolicy {
  constructor(private readonly images: ImageService) {}

  assertMayAdd(ctx: RequestContext, image: Image): void {
    this.images.authorizeImage(ctx, 'add_image_location', image, null);
    if (!hasServiceRole(ctx)) fail('NOT_AUTHORIZED', 'http store must be enabled to use location API by normal user.');
  }

  assertMayFetch(ctx: RequestContext, image: Image): void {
    this.images.authorizeImage(ctx, 'fetch_image_location', image, null);
  }

  assertMaySet(ctx: RequestContext, image: Image): void {
    this.images.authorizeImage(ctx, 'set_image_location', image);
  }

  assertMayDelete(ctx: RequestContext, image: Image): void {
    this.images.authorizeImage(ctx, 'delete_image_location', image);
  }
}

/** Glance: `'service' in context.roles + context.service_roles`. */
export function hasServiceRole(ctx: RequestContext): boolean {
  return ctx.roles.includes('service') || (ctx.serviceRoles ?? []).includes('service');
}
