import { hasAdminRole, type RequestContext } from '../context';
import { fail } from '../errors';
import type { MetadefNamespace } from './model';

/** Glance's metadef policy names (glance/policies/metadef.py). */
export type MetadefAction =
  | 'get_metadef_namespace'
  | 'get_metadef_namespaces'
  | 'add_metadef_namespace'
  | 'modify_metadef_namespace'
  | 'delete_metadef_namespace'
  | 'get_metadef_object'
  | 'get_metadef_objects'
  | 'add_metadef_object'
  | 'modify_metadef_object'
  | 'delete_metadef_object'
  | 'get_metadef_property'
  | 'get_metadef_properties'
  | 'add_metadef_property'
  | 'modify_metadef_property'
  | 'remove_metadef_property'
  | 'get_metadef_tag'
  | 'get_metadef_tags'
  | 'add_metadef_tag'
  | 'add_metadef_tags'
  | 'modify_metadef_tag'
  | 'delete_metadef_tag'
  | 'delete_metadef_tags'
  | 'list_metadef_resource_types'
  | 'get_metadef_resource_type'
  | 'add_metadef_resource_type_association'
  | 'remove_metadef_resource_type_association';

/**
 * Decides one metadef policy for a caller, given the namespace concerned (none for list and create).
 * The default is `legacyMetadefPolicy`; a deployment's policy engine can be passed instead.
 */
export type MetadefAuthorizer = (ctx: RequestContext, action: MetadefAction, namespace: MetadefNamespace | null) => boolean;

const READS = new Set<MetadefAction>([
  'get_metadef_namespace',
  'get_metadef_namespaces',
  'get_metadef_object',
  'get_metadef_objects',
  'get_metadef_property',
  'get_metadef_properties',
  'get_metadef_tag',
  'get_metadef_tags',
  'list_metadef_resource_types',
  'get_metadef_resource_type',
]);

/**
 * Glance's defaults before secure RBAC: `metadef_default` ("": anyone) for reads, `metadef_admin`
 * (role:admin) for every write. Which namespaces a reader sees is the catalog's visibility rule
 * (public, or owned by the caller's project), applied by the service whatever the policy says.
 */
export const legacyMetadefPolicy: MetadefAuthorizer = (ctx, action) => READS.has(action) || hasAdminRole(ctx);

/** Glance's answer to a refused metadef policy (403). */
export function refuse(action: MetadefAction): never {
  fail('NOT_AUTHORIZED', `You are not authorized to complete ${action} action.`);
}

/** What a policy engine must offer to decide metadef rules (src/domain/policy's `PolicyEnforcer` does). */
export interface RuleEvaluator {
  allows(ctx: RequestContext, rule: string, target: Readonly<Record<string, unknown>>): boolean;
}

/**
 * Metadef policies decided by a deployment's policy engine, on Glance's target: the namespace's
 * owner as `project_id` and its `visibility`, or the caller's project when no namespace is concerned.
 */
export function metadefAuthorizerFrom(policy: RuleEvaluator): MetadefAuthorizer {
  return (ctx, action, namespace) =>
    policy.allows(ctx, action, namespace ? { project_id: namespace.owner, visibility: namespace.visibility } : { project_id: ctx.projectId });
}

/** Glance's `_is_namespace_visible`: admins see all; others public namespaces and their project's own. */
export function isNamespaceVisible(ctx: RequestContext, namespace: MetadefNamespace): boolean {
  if (ctx.isAdmin || namespace.owner === null || namespace.visibility === 'public') return true;
  return ctx.projectId !== null && ctx.projectId === namespace.owner;
}
