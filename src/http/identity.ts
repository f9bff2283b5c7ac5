import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import type { AuthConfig } from '../config/types';
import { contextFromIdentity, type RequestContext, unauthenticatedContext } from '../domain/context';
import { fail } from '../domain/errors';

/**
 * Turns a request into a RequestContext according to `[paste_deploy] flavor`:
 * - none: Glance's unauthenticated context; identity headers are ignored.
 * - trusted-auth: keystonemiddleware's headers are trusted as sent (behind an authenticating proxy).
 * - keystone: tokens validated against Keystone (src/http/keystone.ts).
 */
export interface Authenticator {
  /** Throws UNAUTHENTICATED (401) or IDENTITY_UNAVAILABLE (503). */
  authenticate(ctx: Context, requestId: string): Promise<RequestContext>;
  /** Whether an inbound X-OpenStack-Request-ID is adopted (the keystone pipeline does so). */
  readonly adoptsRequestId: boolean;
  /** Value of WWW-Authenticate on 401 responses, if any. */
  readonly wwwAuthenticate: string | null;
}

export const MAX_REQUEST_ID_LENGTH = 64;

/** `req-<uuid>`, or the caller's id (prefixed with `req-`) where the flavour adopts it. */
export function requestIdFor(ctx: Context, adopt: boolean): string {
  const inbound = ctx.get('x-openstack-request-id');
  if (adopt && inbound) {
    if (inbound.length > MAX_REQUEST_ID_LENGTH) fail('BAD_REQUEST', `X-OpenStack-Request-ID is longer than ${MAX_REQUEST_ID_LENGTH} characters.`);
    return inbound.startsWith('req-') ? inbound : `req-${inbound}`;
  }
  return `req-${randomUUID()}`;
}

export class NoAuthAuthenticator implements Authenticator {
  readonly adoptsRequestId = false;
  readonly wwwAuthenticate = null;

  async authenticate(_ctx: Context, requestId: string): Promise<RequestContext> {
    return unauthenticatedContext(requestId);
  }
}

/** Reads keystonemiddleware's identity headers, with Glance's fallbacks (spec §3.1). */
export function identityFromHeaders(ctx: Context): { userId: string | null; projectId: string | null; roles: string[]; systemScope: string | null; domainId: string | null } {
  const header = (...names: string[]) => {
    for (const name of names) {
      const value = ctx.get(name);
      if (value) return value;
    }
    return null;
  };
  const roles = (header('x-roles', 'x-role') ?? '').split(',');
  // keystonemiddleware's scope headers for system- and domain-scoped tokens (oslo.context reads them)
  const scope = { systemScope: header('openstack-system-scope'), domainId: header('x-domain-id') };
  return { userId: header('x-user-id', 'x-user'), projectId: header('x-project-id', 'x-tenant-id', 'x-tenant'), roles, ...scope };
}

export class TrustedHeadersAuthenticator implements Authenticator {
  readonly adoptsRequestId = true;
  readonly wwwAuthenticate = null;

  async authenticate(ctx: Context, requestId: string): Promise<RequestContext> {
    // Glance's context middleware: only a confirmed identity builds a context (spec §3.1).
    if (ctx.get('x-identity-status') !== 'Confirmed') fail('UNAUTHENTICATED', 'The request you have made requires authentication.');
    const context = contextFromIdentity(requestId, identityFromHeaders(ctx));
    // keystonemiddleware's X-Service-Roles: the roles of a service token sent beside the user's
    const serviceRoles = ctx.get('x-service-roles').split(',').map((r) => r.trim().toLowerCase()).filter((r) => r.length > 0);
    return serviceRoles.length > 0 ? { ...context, serviceRoles } : context;
  }
}

export function createAuthenticator(config: AuthConfig, keystone?: () => Authenticator): Authenticator {
  switch (config.flavor) {
    case 'none':
      return new NoAuthAuthenticator();
    case 'trusted-auth':
      return new TrustedHeadersAuthenticator();
    case 'keystone':
      if (!keystone) throw new Error('the keystone flavour needs a Keystone authenticator');
      return keystone();
  }
}
