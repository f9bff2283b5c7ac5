import { hasAdminRole, type RequestContext } from '../context';
import { fail } from '../errors';
import type { Image, ImageMember } from '../image';

/**
 * Glance's legacy authorization (owner/admin), spec §3.2, which its API still applies on top of
 * the policy rules while `enforce_new_defaults = false` (glance/api/v2/policy.py
 * check_is_image_mutable, check_admin_or_same_owner). Invisible images are reported as missing
 * so their existence is not revealed; visible ones the caller may not change get 403.
 */

export function canSee(ctx: RequestContext, image: Image, membership: ImageMember | null): boolean {
  if (ctx.isAdmin || image.owner === null) return true;
  if (image.visibility === 'public' || image.visibility === 'community') return true;
  if (ctx.projectId !== null && image.owner === ctx.projectId) return true;
  return image.visibility === 'shared' && membership !== null;
}

export function isOwnerOrAdmin(ctx: RequestContext, image: Image): boolean {
  return ctx.isAdmin || (ctx.projectId !== null && image.owner === ctx.projectId);
}

export function assertWritable(ctx: RequestContext): void {
  if (ctx.readOnly) fail('READ_ONLY_CONTEXT', 'You are not authorized to complete this action.');
}

export function assertCanModify(ctx: RequestContext, image: Image, action = 'modify this image'): void {
  assertWritable(ctx);
  if (!isOwnerOrAdmin(ctx, image)) fail('NOT_AUTHORIZED', `You are not permitted to ${action}.`);
}

export function assertAdminRole(ctx: RequestContext, action: string): void {
  if (!hasAdminRole(ctx)) fail('ADMIN_REQUIRED', `You are not authorized to ${action}.`);
}
