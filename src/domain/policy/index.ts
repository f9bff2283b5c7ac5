/**
 * Authorization: oslo.policy's rule language (./language.ts), Glance's default rules
 * (./defaults.ts), the enforcer compiled once at start-up (./enforcer.ts), image targets and
 * Glance's 403/404 answers (./images.ts), operators' policy files (./file.ts) and the legacy
 * owner/admin checks (./legacy.ts).
 */
export { GLANCE_RULE_NAMES, GLANCE_RULES, type PolicyRule, type RuleDefault } from './defaults';
export { PolicyEnforcer, PolicyError, type PolicyOptions } from './enforcer';
export { policyFromConfig, readPolicyFile } from './file';
export { enforceOnImage, enforceVisibility, imageTarget, mayGetImage, newImageTarget } from './images';
export { type Credentials, type Target } from './language';
export { assertAdminRole, assertCanModify, assertWritable, canSee, isOwnerOrAdmin } from './legacy';
