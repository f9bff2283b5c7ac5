import type { RequestContext } from '../context';
import { fail } from '../errors';
import { GLANCE_RULES, type PolicyRule, type RuleDefault } from './defaults';
import { type Check, compile, type Credentials, type ListRule, parseRule, PolicySyntaxError, referencedRules, type RuleNode, type Target } from './language';

export interface PolicyOptions {
  /** `[oslo_policy] enforce_new_defaults`: true = secure RBAC only; false = each rule OR its legacy string. */
  enforceNewDefaults: boolean;
  /** `[oslo_policy] enforce_scope`: refuse tokens whose scope (system, domain) a rule does not accept. */
  enforceScope: boolean;
  /** Rules from the operator's policy file; each replaces the default of that name entirely. */
  overrides?: Readonly<Record<string, string | ListRule>>;
  /** Where the overrides came from, for messages. */
  source?: string;
}

/** A policy that cannot be used: names the rule and what is wrong with it. */
export class PolicyError extends Error {}

interface RuleSet {
  checks: Map<string, Check>;
}

/**
 * oslo.policy's Enforcer for Glance's rules: every rule parsed, checked (unknown `rule:`
 * references, cycles) and compiled once, at start-up; an evaluation walks closures only.
 *
 * Two rule sets are kept: the configured one, and the legacy one (each default OR its deprecated
 * string, operators' overrides as written) that the unauthenticated flavour is judged by — it
 * has no roles to match the new defaults, and its admin flag bypasses ownership as in Glance.
 */
export class PolicyEnforcer {
  private readonly active: RuleSet;
  private readonly legacySet: RuleSet;
  private readonly scopes = new Map<string, readonly string[]>();
  private readonly credentialCache = new WeakMap<RequestContext, Credentials>();

  constructor(readonly options: PolicyOptions) {
    for (const d of GLANCE_RULES) if (d.scopes) this.scopes.set(d.name, d.scopes);
    this.legacySet = buildRuleSet(GLANCE_RULES, options.overrides ?? {}, false, options.source);
    this.active = options.enforceNewDefaults ? buildRuleSet(GLANCE_RULES, options.overrides ?? {}, true, options.source) : this.legacySet;
  }

  /** Glance's default: new defaults on, scope enforced, no policy file. */
  static glanceDefaults(): PolicyEnforcer {
    return new PolicyEnforcer({ enforceNewDefaults: true, enforceScope: true });
  }

  /** True when Glance's legacy owner/admin checks apply on top of the rules (enforce_new_defaults = false). */
  legacyChecksApply(ctx: RequestContext): boolean {
    return !this.options.enforceNewDefaults || ctx.unauthenticated === true;
  }

  /** Whether `rule` allows `ctx` on `target` (oslo.policy's `check`). Unknown rule names deny. */
  allows(ctx: RequestContext, rule: PolicyRule | string, target: Target = {}): boolean {
    const set = ctx.unauthenticated === true ? this.legacySet : this.active;
    const check = set.checks.get(rule);
    if (!check) return false;
    const creds = this.credentials(ctx);
    if (this.options.enforceScope && !this.scopeAccepted(rule, creds)) return false;
    return check(creds, target);
  }

  /** Throws NOT_AUTHORIZED (403) unless `rule` allows `ctx` on `target`. */
  enforce(ctx: RequestContext, rule: PolicyRule, target: Target = {}, message?: string): void {
    if (!this.allows(ctx, rule, target)) fail('NOT_AUTHORIZED', message ?? `Policy doesn't allow ${rule} to be performed.`);
  }

  /** Glance's `context.is_admin`: the `context_is_admin` rule (the unauthenticated flavour is admin by definition). */
  isAdmin(ctx: RequestContext): boolean {
    if (ctx.unauthenticated === true) return true;
    const check = this.active.checks.get('context_is_admin');
    return check !== undefined && check(this.credentials(ctx), {});
  }

  /** The context with `isAdmin` decided by the policy; authenticators' contexts pass through here. */
  judge(ctx: RequestContext): RequestContext {
    const isAdmin = this.isAdmin(ctx);
    return isAdmin === ctx.isAdmin ? ctx : { ...ctx, isAdmin };
  }

  private scopeAccepted(rule: string, creds: Credentials): boolean {
    const scopes = this.scopes.get(rule);
    if (!scopes) return true;
    const scope = creds.system_scope ? 'system' : creds.domain_id ? 'domain' : 'project';
    return scopes.includes(scope);
  }

  /** What oslo.policy's checks see of the caller (oslo.context's policy values). */
  private credentials(ctx: RequestContext): Credentials {
    let creds = this.credentialCache.get(ctx);
    if (!creds) {
      creds = {
        user_id: ctx.userId,
        project_id: ctx.projectId,
        roles: ctx.roles.map((r) => r.toLowerCase()),
        system_scope: ctx.systemScope ?? null,
        domain_id: ctx.domainId ?? null,
        is_admin: ctx.isAdmin,
      };
      this.credentialCache.set(ctx, creds);
    }
    return creds;
  }
}

function buildRuleSet(
  defaults: readonly RuleDefault[],
  overrides: Readonly<Record<string, string | ListRule>>,
  newDefaultsOnly: boolean,
  source = 'the policy file',
): RuleSet {
  const parsed = new Map<string, RuleNode>();
  const parse = (name: string, text: string | ListRule, where: string) => {
    try {
      return parseRule(text);
    } catch (err) {
      if (err instanceof PolicySyntaxError) throw new PolicyError(`policy rule "${name}" (${where}): cannot parse ${JSON.stringify(text)}: ${err.message}`);
      throw err;
    }
  };
  for (const d of defaults) {
    if (Object.hasOwn(overrides, d.name)) continue;
    const node = parse(d.name, d.check, "Glance's default");
    const legacy = !newDefaultsOnly && d.legacy !== undefined && d.legacy !== d.check ? parse(d.name, d.legacy, "Glance's legacy default") : null;
    parsed.set(d.name, legacy ? { kind: 'or', items: [node, legacy] } : node);
  }
  for (const [name, text] of Object.entries(overrides)) parsed.set(name, parse(name, text, source));

  for (const [name, node] of parsed) {
    for (const ref of referencedRules(node)) {
      if (!parsed.has(ref)) throw new PolicyError(`policy rule "${name}" refers to rule:${ref}, which is not defined`);
    }
  }
  assertNoCycles(parsed);

  const checks = new Map<string, Check>();
  const resolve = (name: string): Check => checks.get(name) as Check;
  for (const [name, node] of parsed) checks.set(name, compile(node, resolve));
  return { checks };
}

function assertNoCycles(parsed: Map<string, RuleNode>): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    const seen = state.get(name);
    if (seen === 'done') return;
    if (seen === 'visiting') throw new PolicyError(`policy rule "${name}" refers to itself: ${[...path, name].join(' → ')}`);
    state.set(name, 'visiting');
    for (const ref of referencedRules(parsed.get(name) as RuleNode)) visit(ref, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of parsed.keys()) visit(name, []);
}
