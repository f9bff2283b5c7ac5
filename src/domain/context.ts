/** Who is asking. Built by the HTTP identity layer; the service never reads headers. */
export interface RequestContext {
  requestId: string;
  userId: string | null;
  projectId: string | null;
  /** Lower-cased role names. */
  roles: readonly string[];
  /**
   * Glance's `context.is_admin`: bypasses ownership checks. True for the admin role, and for the
   * unauthenticated flavour's context, which nevertheless has no roles (so role-gated policies
   * such as publicizing an image still refuse it).
   */
  isAdmin: boolean;
  /** Anonymous read-only access: every mutation is refused. */
  readOnly: boolean;
}

export function hasAdminRole(ctx: RequestContext): boolean {
  return ctx.roles.includes('admin');
}

/** The unauthenticated flavour's context: admin-like for ownership, no roles, no project. */
export function unauthenticatedContext(requestId: string): RequestContext {
  return { requestId, userId: null, projectId: null, roles: [], isAdmin: true, readOnly: false };
}

export function contextFromIdentity(
  requestId: string,
  identity: { userId: string | null; projectId: string | null; roles: readonly string[] },
): RequestContext {
  const roles = identity.roles.map((r) => r.trim().toLowerCase()).filter((r) => r.length > 0);
  return { requestId, userId: identity.userId, projectId: identity.projectId, roles, isAdmin: roles.includes('admin'), readOnly: false };
}
