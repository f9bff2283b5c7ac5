import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import type { KeystoneConfig } from '../config/types';
import { contextFromIdentity, type RequestContext } from '../domain/context';
import { fail, GlintError } from '../domain/errors';
import { createLogger, type Logger } from '../lib/logger';
import type { Authenticator } from './identity';

/**
 * The `keystone` flavour (spec §3.1): what keystonemiddleware's auth_token does in front of
 * Glance, done in process.
 *
 * - The user token comes from X-Auth-Token (fallback X-Storage-Token) and is validated with
 *   `GET /v3/auth/tokens`, authorised by glint's own service-user token. Identity headers sent
 *   by the client (X-Roles, X-Project-Id…) are never read: identity comes from Keystone only.
 * - An X-Service-Token is validated too; an invalid one rejects the request. With
 *   `service_token_roles_required` it must also carry the `service` role. A service token that
 *   carries the role lets an expired user token through (Keystone's `allow_expired`), as
 *   keystonemiddleware does for service-to-service calls.
 * - Keystone unreachable, timing out or failing → IDENTITY_UNAVAILABLE (503); a request is never
 *   let through because Keystone could not be asked.
 * - Validation results (valid and invalid) are cached in process, keyed by a hash of the token,
 *   in an LRU of bounded size, for at most `token_cache_time` seconds and never past the token's
 *   `expires_at`. A revoked token therefore stops working within `token_cache_time`.
 */

export interface KeystoneAuthenticatorOptions {
  logger?: Logger;
  /** Per-call timeout for requests to Keystone, ms (default 10 000). */
  timeoutMs?: number;
  /** Maximum number of cached validation results (default 10 000). */
  cacheSize?: number;
  /** Clock, ms since the epoch (tests). */
  now?: () => number;
  /** fetch implementation (tests observe or break the calls to Keystone through it). */
  fetch?: typeof fetch;
}

/** What a valid token says about its bearer. */
export interface TokenIdentity {
  userId: string;
  /** Null for unscoped or domain-scoped tokens. */
  projectId: string | null;
  /** Lower-cased, as Keystone expanded them (implied roles included). */
  roles: string[];
  /** `all` for a system-scoped token. */
  systemScope?: string | null;
  /** The domain of a domain-scoped token. */
  domainId?: string | null;
  /** ms since the epoch. */
  expiresAt: number;
}

/** Roles that make an X-Service-Token a service token (keystonemiddleware `service_token_roles`). */
const SERVICE_TOKEN_ROLES = ['service'];
/** Longest token accepted; fernet tokens are ~200 bytes, JWS ~800. */
const MAX_TOKEN_LENGTH = 8192;
const AUTH_REQUIRED = 'The request you have made requires authentication.';

export class KeystoneAuthenticator implements Authenticator {
  readonly adoptsRequestId = true;
  readonly wwwAuthenticate: string;

  private readonly identityUrl: string;
  private readonly logger: Logger;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly fetch: typeof fetch;
  private readonly cache: LruCache<TokenIdentity | null>;
  private readonly inFlight = new Map<string, Promise<TokenIdentity | null>>();
  private readonly session: ServiceSession;

  constructor(
    private readonly config: KeystoneConfig,
    options: KeystoneAuthenticatorOptions = {},
  ) {
    this.identityUrl = identityV3Url(config.authUrl);
    this.wwwAuthenticate = `Keystone uri="${config.wwwAuthenticateUri || config.authUrl}"`;
    this.logger = options.logger ?? createLogger();
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.fetch = options.fetch ?? fetch;
    this.cache = new LruCache(options.cacheSize ?? 10_000);
    this.session = new ServiceSession(config, this.identityUrl, (url, init) => this.call(url, init), this.now, this.logger);
  }

  async authenticate(ctx: Context, requestId: string): Promise<RequestContext> {
    const userToken = headerToken(ctx, 'x-auth-token') ?? headerToken(ctx, 'x-storage-token');
    if (userToken === null) fail('UNAUTHENTICATED', AUTH_REQUIRED);

    let allowExpired = false;
    let serviceRoles: string[] | null = null;
    const serviceToken = headerToken(ctx, 'x-service-token');
    if (serviceToken !== null) {
      const service = await this.validate(serviceToken, false);
      if (!service) fail('UNAUTHENTICATED', AUTH_REQUIRED, 'The service token is not valid.');
      serviceRoles = service.roles.map((r) => r.toLowerCase());
      const isService = service.roles.some((r) => SERVICE_TOKEN_ROLES.includes(r));
      if (this.config.serviceTokenRolesRequired && !isService) {
        fail('UNAUTHENTICATED', AUTH_REQUIRED, 'The service token does not carry a service role.');
      }
      allowExpired = isService;
    }

    const user = await this.validate(userToken, allowExpired);
    if (!user) fail('UNAUTHENTICATED', AUTH_REQUIRED);
    const context = contextFromIdentity(requestId, user);
    return serviceRoles ? { ...context, serviceRoles } : context;
  }

  /**
   * The identity behind `token`, or null when Keystone says it is not valid. Cached; concurrent
   * validations of one token share a single call. Throws IDENTITY_UNAVAILABLE.
   */
  async validate(token: string, allowExpired: boolean): Promise<TokenIdentity | null> {
    const key = `${allowExpired ? 'e' : 'v'}:${createHash('sha256').update(token).digest('base64url')}`;
    const now = this.now();
    const cached = this.cache.get(key, now);
    if (cached !== undefined) return cached;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.fetchValidation(token, allowExpired).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
      // The cache window opens when Keystone was asked, not when it answered.
      pending.then(
        (result) => this.remember(key, result, allowExpired, now),
        () => {},
      );
    }
    return pending;
  }

  /** Drops every cached validation (tests, or an operator reacting to a compromise). */
  clearCache(): void {
    this.cache.clear();
  }

  private remember(key: string, result: TokenIdentity | null, allowExpired: boolean, askedAt: number): void {
    const ttl = this.config.tokenCacheTime * 1000;
    if (ttl <= 0) return;
    let until = askedAt + ttl;
    if (result && !allowExpired) until = Math.min(until, result.expiresAt);
    if (until > this.now()) this.cache.set(key, result, until);
  }

  private async fetchValidation(token: string, allowExpired: boolean): Promise<TokenIdentity | null> {
    const url = `${this.identityUrl}/auth/tokens?nocatalog${allowExpired ? '&allow_expired=1' : ''}`;
    for (let attempt = 0; ; attempt++) {
      const serviceToken = await this.session.token();
      const res = await this.call(url, { method: 'GET', headers: { 'X-Auth-Token': serviceToken, 'X-Subject-Token': token } });
      if (res.status === 200) {
        const identity = parseTokenBody(await readJson(res));
        if (!identity) {
          this.logger.warn('keystone returned an unreadable token document');
          return null;
        }
        return allowExpired || identity.expiresAt > this.now() ? identity : null;
      }
      await res.body?.cancel();
      // 404: unknown, expired or revoked token. 400: not a token at all.
      if (res.status === 404 || res.status === 400) return null;
      if (res.status === 401 && attempt === 0) {
        // glint's own token was refused (revoked, or Keystone's keys rotated): get a new one once.
        this.session.invalidate(serviceToken);
        continue;
      }
      this.logger.error('keystone refused to validate a token with glint\'s service token', { status: res.status, url });
      throw unavailable();
    }
  }

  /**
   * fetch with a timeout; any failure to get an answer is IDENTITY_UNAVAILABLE. A connection
   * dropped before any answer (a kept-alive socket the server had just closed) is retried once.
   */
  private async call(url: string, init: RequestInit): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetch(url, {
          ...init,
          headers: { Accept: 'application/json', 'User-Agent': 'glint-keystone-auth', ...(init.headers as Record<string, string>) },
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        const timedOut = (err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError';
        if (!timedOut && attempt === 0 && isDroppedConnection(err)) continue;
        this.logger.warn('keystone unreachable', { url, error: (err as Error)?.message, cause: ((err as Error)?.cause as Error)?.message });
        throw unavailable(err);
      }
      if (res.status >= 500) {
        await res.body?.cancel();
        this.logger.warn('keystone failed', { status: res.status, url });
        throw unavailable();
      }
      return res;
    }
  }
}

/** undici's "other side closed" / ECONNRESET: the server closed a reused connection. */
function isDroppedConnection(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string } } | null)?.cause;
  return cause?.code === 'UND_ERR_SOCKET' || cause?.code === 'ECONNRESET';
}

/**
 * glint's own project-scoped token, obtained with the configured service-user credentials and
 * renewed before it expires (or at once when Keystone refuses it). One request at a time.
 */
class ServiceSession {
  private current: { token: string; renewAt: number } | null = null;
  private pending: Promise<string> | null = null;

  constructor(
    private readonly config: KeystoneConfig,
    private readonly identityUrl: string,
    private readonly call: (url: string, init: RequestInit) => Promise<Response>,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {}

  async token(): Promise<string> {
    if (this.current && this.now() < this.current.renewAt) return this.current.token;
    this.pending ??= this.issue().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  invalidate(token: string): void {
    if (this.current?.token === token) this.current = null;
  }

  private async issue(): Promise<string> {
    const body = {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: this.config.username, domain: { name: this.config.userDomainName }, password: this.config.password } },
        },
        scope: { project: { name: this.config.projectName, domain: { name: this.config.projectDomainName } } },
      },
    };
    const started = this.now();
    const res = await this.call(`${this.identityUrl}/auth/tokens?nocatalog`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const token = res.headers.get('x-subject-token');
    if (res.status !== 201 || !token) {
      await res.body?.cancel();
      this.logger.error('glint could not authenticate to keystone; check [keystone_authtoken]', {
        status: res.status,
        username: this.config.username,
        project: this.config.projectName,
      });
      throw unavailable();
    }
    const doc = (await readJson(res)) as { token?: { expires_at?: string; issued_at?: string } } | null;
    const expiresAt = Date.parse(doc?.token?.expires_at ?? '');
    const issuedAt = Date.parse(doc?.token?.issued_at ?? '');
    // Lifetime as Keystone sees it, placed on our clock, so clock skew cannot keep a dead token.
    // Keystone truncates both times to the second: the token may die up to 1 s before that.
    const lifetime = Number.isFinite(expiresAt) && Number.isFinite(issuedAt) && expiresAt > issuedAt ? expiresAt - issuedAt : 60_000;
    const localExpiry = started + lifetime - 1000;
    // Renew with a quarter of the lifetime (at most a minute) left.
    this.current = { token, renewAt: localExpiry - Math.min(60_000, lifetime / 4) };
    return token;
  }
}

/** The v3 identity URL from `auth_url`, which may or may not end in /v3. */
export function identityV3Url(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(base) ? base : `${base}/v3`;
}

/** A token header's value, or null when absent; 401 at once for a value that cannot be a token. */
function headerToken(ctx: Context, name: string): string | null {
  const value = ctx.get(name).trim();
  if (!value) return null;
  // Not forwarded to Keystone: a header fetch would refuse, or that is plainly no token.
  if (value.length > MAX_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(value)) fail('UNAUTHENTICATED', AUTH_REQUIRED);
  return value;
}

/** Reads the identity out of a v3 token document; null when it does not look like one. */
export function parseTokenBody(doc: unknown): TokenIdentity | null {
  const token = (doc as { token?: unknown } | null)?.token as
    | { user?: { id?: unknown }; project?: { id?: unknown }; domain?: { id?: unknown }; system?: { all?: unknown }; roles?: Array<{ name?: unknown }>; expires_at?: unknown }
    | undefined;
  if (!token || typeof token.user?.id !== 'string') return null;
  const expiresAt = typeof token.expires_at === 'string' ? Date.parse(token.expires_at) : NaN;
  if (!Number.isFinite(expiresAt)) return null;
  const roles = Array.isArray(token.roles)
    ? token.roles.map((r) => (typeof r?.name === 'string' ? r.name.trim().toLowerCase() : '')).filter((r) => r.length > 0)
    : [];
  const projectId = typeof token.project?.id === 'string' ? token.project.id : null;
  const systemScope = token.system?.all === true ? 'all' : null;
  const domainId = projectId === null && typeof token.domain?.id === 'string' ? token.domain.id : null;
  return { userId: token.user.id, projectId, roles, expiresAt, systemScope, domainId };
}

async function readJson(res: Response): Promise<unknown> {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

/** 503; what went wrong is logged, not told to the client. */
function unavailable(cause?: unknown): GlintError {
  return new GlintError('IDENTITY_UNAVAILABLE', 'The identity service is unavailable; the request could not be authenticated.', undefined, { cause });
}

/** Map-backed LRU whose entries also carry their own deadline. */
class LruCache<T> {
  private readonly entries = new Map<string, { value: T; until: number }>();

  constructor(private readonly max: number) {}

  get(key: string, now: number): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.until <= now) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: T, until: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
