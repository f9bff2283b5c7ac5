import type { RequestContext } from '../context';
import { fail } from '../errors';
import type { Image } from '../image';
import { assertCanModify, isOwnerOrAdmin } from '../policy';

/**
 * Who may use the location operations, as Glance's default policies and controller say. One
 * function per Glance rule, so the policy evaluator can take each over by name:
 * - `add_image_location` (POST .../locations): the `service` role, or a member of the owning
 *   project — who Glance then refuses unless an `http` store is configured, which glint has not.
 * - `fetch_image_location` (GET .../locations): the `service` role only.
 * - `set_image_location` / `delete_image_location` (PATCH of /locations): Glance 25.1's defaults
 *   (enforce_new_defaults off): whoever may modify the image.
 */

export function hasServiceRole(ctx: RequestContext): boolean {
  return ctx.roles.includes('service');
}

export function assertMayAddLocation(ctx: RequestContext, image: Image): void {
  if (hasServiceRole(ctx)) return;
  if (ctx.readOnly || !isOwnerOrAdmin(ctx, image)) fail('NOT_AUTHORIZED', 'You are not authorized to complete add_image_location action.');
  fail('NOT_AUTHORIZED', 'http store must be enabled to use location API by normal user.');
}

export function assertMayFetchLocations(ctx: RequestContext): void {
  if (!hasServiceRole(ctx)) fail('NOT_AUTHORIZED', 'You are not authorized to complete fetch_image_location action.');
}

export function assertMaySetLocations(ctx: RequestContext, image: Image): void {
  assertCanModify(ctx, image);
}

export function assertMayDeleteLocations(ctx: RequestContext, image: Image): void {
  assertCanModify(ctx, image);
}
