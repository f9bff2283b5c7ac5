/**
 * Glance's registered policy defaults (glance/policies/*.py of current Glance, 2024.1 onward):
 * the secure-RBAC check strings, the deprecated (legacy) ones that `enforce_new_defaults = false`
 * ORs with them, and the token scopes each accepts. Only the check strings are Glance's; they are
 * the contract operators' policy files are written against.
 */

export interface RuleDefault {
  name: string;
  check: string;
  /** The pre-RBAC check string; with enforce_new_defaults = false the rule is `check or legacy`. */
  legacy?: string;
  /** Token scopes the rule accepts; absent = any (checked only with enforce_scope). */
  scopes?: readonly ('project' | 'system' | 'domain')[];
}

const ADMIN = 'rule:context_is_admin';
const DEFAULT = 'rule:default';
const SERVICE = 'rule:service_api';
const PROJECT_MEMBER = 'role:member and project_id:%(project_id)s';
const PROJECT_READER = 'role:reader and project_id:%(project_id)s';
const IMAGE_MEMBER = 'project_id:%(member_id)s';
const VISIBLE_TO_ALL = "'community':%(visibility)s or 'public':%(visibility)s or 'shared':%(visibility)s";

const ADMIN_OR_PROJECT_MEMBER = `${ADMIN} or (${PROJECT_MEMBER})`;
const ADMIN_OR_PROJECT_READER = `${ADMIN} or (${PROJECT_READER})`;
const ADMIN_OR_PROJECT_READER_GET_IMAGE = `${ADMIN} or (role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER} or ${VISIBLE_TO_ALL}))`;
const ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE = `${ADMIN} or (role:member and (project_id:%(project_id)s or ${IMAGE_MEMBER} or ${VISIBLE_TO_ALL}))`;
const ADMIN_OR_PROJECT_MEMBER_CREATE_IMAGE = `${ADMIN} or (${PROJECT_MEMBER} and project_id:%(owner)s)`;
const ADMIN_OR_PROJECT_READER_GET_NAMESPACE = `${ADMIN} or (role:reader and (project_id:%(project_id)s or 'public':%(visibility)s))`;
const ADMIN_OR_SHARED_MEMBER = `${ADMIN} or (role:member and ${IMAGE_MEMBER})`;
// as Glance writes it: no parentheses around the part after "or"
const ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER = `${ADMIN} or role:reader and (project_id:%(project_id)s or ${IMAGE_MEMBER})`;
const SERVICE_OR_PROJECT_MEMBER = `${SERVICE} or (${PROJECT_MEMBER} and project_id:%(owner)s)`;

const PROJECT = ['project'] as const;
const rule = (name: string, check: string, legacy?: string): RuleDefault => ({ name, check, legacy, scopes: PROJECT });

export const GLANCE_RULES: readonly RuleDefault[] = [
  // base
  { name: 'default', check: '', legacy: ADMIN },
  { name: 'context_is_admin', check: 'role:admin' },
  { name: 'service_api', check: 'role:service or role:admin' },
  // images
  rule('add_image', ADMIN_OR_PROJECT_MEMBER_CREATE_IMAGE, DEFAULT),
  rule('delete_image', ADMIN_OR_PROJECT_MEMBER, DEFAULT),
  rule('get_image', ADMIN_OR_PROJECT_READER_GET_IMAGE, DEFAULT),
  rule('get_images', ADMIN_OR_PROJECT_READER, DEFAULT),
  rule('modify_image', ADMIN_OR_PROJECT_MEMBER, DEFAULT),
  rule('publicize_image', ADMIN),
  rule('communitize_image', ADMIN_OR_PROJECT_MEMBER, DEFAULT),
  rule('download_image', ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE, DEFAULT),
  rule('download_from_store', ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE),
  rule('upload_image', ADMIN_OR_PROJECT_MEMBER, DEFAULT),
  rule('delete_image_location', ADMIN, DEFAULT),
  rule('get_image_location', ADMIN_OR_PROJECT_READER, DEFAULT),
  rule('set_image_location', ADMIN_OR_PROJECT_MEMBER, DEFAULT),
  rule('add_image_location', SERVICE_OR_PROJECT_MEMBER),
  rule('fetch_image_location', SERVICE),
  rule('add_member', ADMIN_OR_PROJECT_MEMBER, DEFAULT),
  rule('delete_member', ADMIN_OR_PROJECT_MEMBER, DEFAULT),
  rule('get_member', ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER, DEFAULT),
  rule('get_members', ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER, DEFAULT),
  rule('modify_member', ADMIN_OR_SHARED_MEMBER, DEFAULT),
  rule('manage_image_cache', ADMIN),
  rule('deactivate', ADMIN_OR_PROJECT_MEMBER, DEFAULT),
  rule('reactivate', ADMIN_OR_PROJECT_MEMBER, DEFAULT),
  rule('copy_image', ADMIN),
  rule('list_cached_nodes', ADMIN),
  // tasks
  rule('get_task', DEFAULT, DEFAULT),
  rule('get_tasks', DEFAULT, DEFAULT),
  rule('add_task', DEFAULT, DEFAULT),
  rule('modify_task', DEFAULT),
  rule('tasks_api_access', ADMIN),
  // discovery
  rule('stores_info_detail', `${ADMIN} or ${SERVICE}`, ADMIN),
  // cache
  rule('cache_image', ADMIN, 'rule:manage_image_cache'),
  rule('cache_list', ADMIN, 'rule:manage_image_cache'),
  rule('cache_delete', ADMIN, 'rule:manage_image_cache'),
  rule('cache_clean', ADMIN),
  rule('cache_prune', ADMIN),
  // metadefs
  { name: 'metadef_default', check: '' },
  { name: 'metadef_admin', check: ADMIN },
  rule('get_metadef_namespace', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'rule:metadef_default'),
  rule('get_metadef_namespaces', ADMIN_OR_PROJECT_READER, 'rule:metadef_default'),
  rule('modify_metadef_namespace', 'rule:metadef_admin'),
  rule('add_metadef_namespace', 'rule:metadef_admin'),
  rule('delete_metadef_namespace', 'rule:metadef_admin'),
  rule('get_metadef_object', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'rule:metadef_default'),
  rule('get_metadef_objects', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'rule:metadef_default'),
  rule('modify_metadef_object', 'rule:metadef_admin'),
  rule('add_metadef_object', 'rule:metadef_admin'),
  rule('delete_metadef_object', 'rule:metadef_admin'),
  rule('list_metadef_resource_types', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'rule:metadef_default'),
  rule('get_metadef_resource_type', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'rule:metadef_default'),
  rule('add_metadef_resource_type_association', 'rule:metadef_admin'),
  rule('remove_metadef_resource_type_association', 'rule:metadef_admin'),
  rule('get_metadef_property', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'rule:metadef_default'),
  rule('get_metadef_properties', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'rule:metadef_default'),
  rule('modify_metadef_property', 'rule:metadef_admin'),
  rule('add_metadef_property', 'rule:metadef_admin'),
  rule('remove_metadef_property', 'rule:metadef_admin'),
  rule('get_metadef_tag', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'rule:metadef_default'),
  rule('get_metadef_tags', ADMIN_OR_PROJECT_READER_GET_NAMESPACE, 'rule:metadef_default'),
  rule('modify_metadef_tag', 'rule:metadef_admin'),
  rule('add_metadef_tag', 'rule:metadef_admin'),
  rule('add_metadef_tags', 'rule:metadef_admin'),
  rule('delete_metadef_tag', 'rule:metadef_admin'),
  rule('delete_metadef_tags', 'rule:metadef_admin'),
];

/** The name of every rule Glance registers; the enforcer accepts these (and file-defined aliases). */
export type PolicyRule = (typeof GLANCE_RULE_NAMES)[number];

export const GLANCE_RULE_NAMES = [
  'default', 'context_is_admin', 'service_api',
  'add_image', 'delete_image', 'get_image', 'get_images', 'modify_image', 'publicize_image', 'communitize_image',
  'download_image', 'download_from_store', 'upload_image', 'delete_image_location', 'get_image_location',
  'set_image_location', 'add_image_location', 'fetch_image_location', 'add_member', 'delete_member', 'get_member',
  'get_members', 'modify_member', 'manage_image_cache', 'deactivate', 'reactivate', 'copy_image', 'list_cached_nodes',
  'get_task', 'get_tasks', 'add_task', 'modify_task', 'tasks_api_access', 'stores_info_detail',
  'cache_image', 'cache_list', 'cache_delete', 'cache_clean', 'cache_prune',
  'metadef_default', 'metadef_admin', 'get_metadef_namespace', 'get_metadef_namespaces', 'modify_metadef_namespace',
  'add_metadef_namespace', 'delete_metadef_namespace', 'get_metadef_object', 'get_metadef_objects',
  'modify_metadef_object', 'add_metadef_object', 'delete_metadef_object', 'list_metadef_resource_types',
  'get_metadef_resource_type', 'add_metadef_resource_type_association', 'remove_metadef_resource_type_association',
  'get_metadef_property', 'get_metadef_properties', 'modify_metadef_property', 'add_metadef_property',
  'remove_metadef_property', 'get_metadef_tag', 'get_metadef_tags', 'modify_metadef_tag', 'add_metadef_tag',
  'add_metadef_tags', 'delete_metadef_tag', 'delete_metadef_tags',
] as const;
