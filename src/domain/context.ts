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
  /**
   * Glance's unauthenticated flavour: no identity at all. The policy judges such a context by
   * the legacy rules (it has no roles the secure-RBAC defaults could match).
   */
  unauthenticated?: boolean;
  /** A system-scoped token's scope (`all`); oslo.policy's `system_scope`. */
  systemScope?: string | null;
  /** A domain-scoped token's domain; oslo.policy's `domain_id`. */
  domainId?: string | null;
  /**
   * Lower-cased roles of the service token sent beside the user's (X-Service-Token, or
   * keystonemiddleware's X-Service-Roles): Glance's `context.service_roles`, which its locations
   * API counts as the caller's (nova and cinder call with the user's token and their own).
   */
  serviceRoles?: readonly string[];
}

export function hasAdminRole(ctx: RequestContext): boolean {
  return ctx.roles.includes('admin');
}

/** The unauthenticated flavour's context: admin-like for ownership, no roles, no project. */
export function unauthenticatedContext(requestId: string): RequestContext {
  return { requestId, userId: null, projectId: null, roles: [], isAdmin: true, readOnly: false, unauthenticated: true };
}

export function contextFromIdentity(
  requestId: string,
  identity: { userId: string | null; projectId: string | null; roles: readonly string[]; systemScope?: string | null; domainId?: string | null },
): RequestContext {
  const roles = identity.roles.map((r) => r.trim().toLowerCase()).filter((r) => r.length > 0);
  // isAdmin here is the default `context_is_admin` (role:admin); the app's policy re-judges it
  const scope = { systemScope: identity.systemScope ?? null, domainId: identity.domainId ?? null };
  return { requestId, userId: identity.userId, projectId: identity.projectId, roles, isAdmin: roles.includes('admin'), readOnly: false, ...scope };
}
