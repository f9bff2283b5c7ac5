import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { PolicyConfig } from '../../config/types';
import { PolicyEnforcer, PolicyError } from './enforcer';
import type { ListRule } from './language';

/**
 * The enforcer `[oslo_policy]` configures: Glance's rules with the policy file's over them.
 * Throws PolicyError naming the first unusable rule; the server checks this before it forks.
 */
export function policyFromConfig(config: PolicyConfig): { policy: PolicyEnforcer; fileRules: number | null } {
  const overrides = config.policyFile ? readPolicyFile(config.policyFile) : null;
  const policy = new PolicyEnforcer({
    enforceNewDefaults: config.enforceNewDefaults,
    enforceScope: config.enforceScope,
    overrides: overrides ?? {},
    source: config.policyFile ?? undefined,
  });
  return { policy, fileRules: overrides ? Object.keys(overrides).length : null };
}

/**
 * Reads an operator's policy file (`[oslo_policy] policy_file`): YAML or JSON (JSON is read as
 * YAML, as oslo.policy does), a mapping of rule name to rule string (or the old list-of-lists
 * form). An empty file means no overrides. Null when the file does not exist (oslo.policy then
 * runs on the defaults); anything else unreadable or malformed throws a PolicyError.
 */
export function readPolicyFile(file: string): Record<string, string | ListRule> | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new PolicyError(`policy file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new PolicyError(`policy file ${file} is neither YAML nor JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new PolicyError(`policy file ${file}: expected a mapping of rule names to rules`);
  const rules: Record<string, string | ListRule> = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    const isListRule = Array.isArray(value) && value.every((v) => typeof v === 'string' || (Array.isArray(v) && v.every((c) => typeof c === 'string')));
    if (typeof value !== 'string' && !isListRule) {
      throw new PolicyError(`policy rule "${name}" (${file}): expected a rule string, found ${value === null ? 'nothing' : typeof value}`);
    }
    rules[name] = value as string | ListRule;
  }
  return rules;
}
