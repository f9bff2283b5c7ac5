import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { contextFromIdentity, type RequestContext, unauthenticatedContext } from '../../src/domain/context';
import { loadConfig } from '../../src/config/load';
import type { Image } from '../../src/domain/image';
import { GLANCE_RULE_NAMES, GLANCE_RULES, imageTarget, PolicyEnforcer, PolicyError, readPolicyFile } from '../../src/domain/policy';

function caller(project: string | null, roles: string[], scope: { systemScope?: string; domainId?: string } = {}): RequestContext {
  return contextFromIdentity('req-1', { userId: 'u', projectId: project, roles, ...scope });
}

function image(fields: Partial<Image> = {}): Image {
  return {
    id: 'img-1', name: null, status: 'active', visibility: 'private', protected: false, osHidden: false, checksum: null, osHashAlgo: null,
    osHashValue: null, owner: 'p1', size: null, virtualSize: null, minRam: 0, minDisk: 0, containerFormat: null, diskFormat: null,
    createdAt: new Date(), updatedAt: new Date(), deletedAt: null, revision: 1, properties: {}, tags: [], locations: [], ...fields,
  };
}

describe("policy enforcer (Glance's rules)", function () {
  const rbac = PolicyEnforcer.glanceDefaults();
  const legacy = new PolicyEnforcer({ enforceNewDefaults: false, enforceScope: true });
  const reader = caller('p1', ['reader']);
  const member = caller('p1', ['member', 'reader']);
  const admin = caller('p9', ['admin', 'member', 'reader']);
  const otherMember = caller('p2', ['member', 'reader']);
  const service = caller('svc', ['service']);
  const own = (ctx: RequestContext, fields: Partial<Image> = {}) => imageTarget(ctx, image(fields));

  it('lists every rule Glance registers, once', function () {
    assert.deepEqual([...GLANCE_RULE_NAMES].sort(), GLANCE_RULES.map((r) => r.name).sort());
    assert.equal(new Set(GLANCE_RULE_NAMES).size, GLANCE_RULE_NAMES.length);
  });

  it('new defaults: a project reader reads, a member writes, in its own project only', function () {
    for (const rule of ['get_image', 'get_images', 'get_image_location', 'get_members']) assert.ok(rbac.allows(reader, rule, own(reader)), `reader ${rule}`);
    for (const rule of ['modify_image', 'delete_image', 'upload_image', 'download_image', 'add_member', 'deactivate', 'communitize_image']) {
      assert.equal(rbac.allows(reader, rule, own(reader)), false, `reader ${rule}`);
      assert.ok(rbac.allows(member, rule, own(member)), `member ${rule}`);
      assert.equal(rbac.allows(otherMember, rule, own(otherMember, { owner: 'p1' })), false, `other project ${rule}`);
    }
    assert.ok(rbac.allows(reader, 'add_image', { project_id: 'p1', owner: 'p1', visibility: 'private' }) === false);
    assert.ok(rbac.allows(member, 'add_image', { project_id: 'p1', owner: 'p1', visibility: 'private' }));
    assert.equal(rbac.allows(member, 'add_image', { project_id: 'p2', owner: 'p2', visibility: 'private' }), false, 'for another project');
  });

  it('new defaults: shared, public and community images are readable by other projects; members act on their membership', function () {
    for (const visibility of ['public', 'community', 'shared'] as const) {
      assert.ok(rbac.allows(otherMember, 'get_image', own(otherMember, { visibility })), visibility);
      assert.ok(rbac.allows(otherMember, 'download_image', own(otherMember, { visibility })), visibility);
    }
    assert.equal(rbac.allows(otherMember, 'get_image', own(otherMember, { visibility: 'private' })), false);
    assert.ok(rbac.allows(otherMember, 'modify_member', own(otherMember, { visibility: 'shared' })), 'member_id is the caller project');
    assert.equal(rbac.allows(member, 'modify_member', own(member, { visibility: 'shared' })), false, 'the owner does not answer for members');
  });

  it('admin overrides; publicize, copy, tasks and cache are admin only; the service role reaches the service rules', function () {
    for (const rule of ['modify_image', 'delete_image', 'upload_image']) assert.ok(rbac.allows(admin, rule, own(admin, { owner: 'p1' })), `admin ${rule} on p1's image`);
    for (const rule of ['publicize_image', 'copy_image', 'tasks_api_access', 'manage_image_cache', 'delete_image_location', 'add_metadef_namespace']) {
      assert.ok(rbac.allows(admin, rule, own(admin)), `admin ${rule}`);
      assert.equal(rbac.allows(member, rule, own(member)), false, `member ${rule}`);
    }
    assert.ok(rbac.allows(service, 'fetch_image_location', own(service)));
    assert.ok(rbac.allows(service, 'add_image_location', own(service)));
    assert.ok(rbac.allows(service, 'stores_info_detail', {}));
    assert.equal(rbac.allows(member, 'fetch_image_location', own(member)), false);
    assert.ok(rbac.allows(member, 'add_image_location', own(member)), 'the owner project member may add a location');
  });

  it('scope: system- and domain-scoped tokens are refused on project rules, unless enforce_scope = false', function () {
    const system = caller(null, ['admin', 'member', 'reader'], { systemScope: 'all' });
    const domain = caller(null, ['admin'], { domainId: 'd1' });
    assert.equal(rbac.allows(system, 'get_images', {}), false);
    assert.equal(rbac.allows(domain, 'get_images', {}), false);
    assert.ok(rbac.isAdmin(system), 'context_is_admin has no scope');
    const unscoped = new PolicyEnforcer({ enforceNewDefaults: true, enforceScope: false });
    assert.ok(unscoped.allows(system, 'get_images', {}));
  });

  it('enforce_new_defaults = false: each rule OR its legacy string (rule:default allows all); rules without one stay', function () {
    assert.ok(legacy.allows(reader, 'delete_image', own(reader, { owner: 'p2' })), 'legacy: the owner check is separate');
    assert.ok(legacy.allows(caller('p1', []), 'get_images', {}), 'no role at all');
    assert.equal(legacy.allows(member, 'publicize_image', own(member)), false);
    assert.equal(legacy.allows(member, 'copy_image', own(member)), false);
    assert.ok(legacy.legacyChecksApply(member));
    assert.equal(rbac.legacyChecksApply(member), false);
  });

  it('the unauthenticated context: legacy rules, admin-like, no roles', function () {
    const anonymous = unauthenticatedContext('req-2');
    assert.ok(rbac.allows(anonymous, 'delete_image', own(anonymous)));
    assert.ok(rbac.allows(anonymous, 'get_images', {}));
    assert.equal(rbac.allows(anonymous, 'publicize_image', own(anonymous)), false);
    assert.equal(rbac.allows(anonymous, 'tasks_api_access', {}), false);
    assert.ok(rbac.isAdmin(anonymous));
    assert.ok(rbac.legacyChecksApply(anonymous));
  });

  it('a policy file rule replaces the default (and its legacy string) entirely; aliases may be defined', function () {
    const custom = new PolicyEnforcer({
      enforceNewDefaults: false,
      enforceScope: true,
      overrides: { delete_image: 'rule:cloud_admin', cloud_admin: 'role:cloud-admin', context_is_admin: 'role:cloud-admin' },
    });
    assert.equal(custom.allows(member, 'delete_image', own(member)), false);
    assert.ok(custom.allows(caller('p1', ['Cloud-Admin']), 'delete_image', own(member)));
    assert.equal(custom.isAdmin(caller('p1', ['admin'])), false, 'context_is_admin decides is_admin');
    assert.ok(custom.judge(caller('p1', ['cloud-admin'])).isAdmin);
  });

  it('refuses a policy it cannot use, naming the rule', function () {
    const build = (overrides: Record<string, string>) => new PolicyEnforcer({ enforceNewDefaults: true, enforceScope: true, overrides, source: 'policy.yaml' });
    assert.throws(() => build({ delete_image: 'role:admin and' }), (e: Error) => e instanceof PolicyError && /"delete_image" \(policy\.yaml\): cannot parse/.test(e.message));
    assert.throws(() => build({ get_image: 'rule:no_such_rule' }), (e: Error) => e instanceof PolicyError && /"get_image" refers to rule:no_such_rule, which is not defined/.test(e.message));
    assert.throws(() => build({ a: 'rule:b', b: 'rule:a', get_image: 'rule:a' }), (e: Error) => e instanceof PolicyError && /refers to itself: a → b → a/.test(e.message));
  });

  describe('policy files', function () {
    let dir: string;
    before(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'glint-policy-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, text: string) => {
      const p = path.join(dir, name);
      writeFileSync(p, text);
      return p;
    };

    it('reads YAML (with comments, as oslopolicy-sample-generator writes) and JSON (also the list form)', function () {
      assert.deepEqual(readPolicyFile(file('p.yaml', '# Deletes the image\n#"delete_image": "rule:default"\n"delete_image": "role:admin"\nget_image: "@"\n')), {
        delete_image: 'role:admin',
        get_image: '@',
      });
      assert.deepEqual(readPolicyFile(file('p.json', '{"delete_image": [["role:admin"], ["role:member", "project_id:%(project_id)s"]]}')), {
        delete_image: [['role:admin'], ['role:member', 'project_id:%(project_id)s']],
      });
      assert.deepEqual(readPolicyFile(file('empty.yaml', '# nothing\n')), {});
      assert.equal(readPolicyFile(path.join(dir, 'missing.yaml')), null);
    });

    it('[oslo_policy]: Glance defaults (both true, policy.yaml), policy_file relative to the config file, environment overrides', function () {
      const quiet = { warn: () => {}, env: {} };
      assert.deepEqual({ ...loadConfig({ ...quiet, baseDir: dir }).policy }, { enforceNewDefaults: true, enforceScope: true, policyFile: path.join(dir, 'policy.yaml') });
      const conf = file('glint.conf', '[oslo_policy]\npolicy_file = rules/p.json\nenforce_scope = false\n');
      const loaded = loadConfig({ ...quiet, file: conf, baseDir: tmpdir() }).policy;
      assert.equal(loaded.policyFile, path.join(dir, 'rules', 'p.json'), "the config file's folder, not the working directory");
      assert.equal(loaded.enforceScope, false);
      assert.equal(loadConfig({ warn: () => {}, file: conf, env: { GLINT_OSLO_POLICY_ENFORCE_NEW_DEFAULTS: 'false' } }).policy.enforceNewDefaults, false);
      assert.equal(loadConfig({ warn: () => {}, file: file('empty.conf', '[oslo_policy]\npolicy_file =\n'), env: {} }).policy.policyFile, null);
    });

    it('refuses a file that is not a mapping of rule strings', function () {
      assert.throws(() => readPolicyFile(file('bad.yaml', '"delete_image": "role:admin\n')), /neither YAML nor JSON/);
      assert.throws(() => readPolicyFile(file('list.yaml', '- role:admin\n')), /expected a mapping/);
      assert.throws(() => readPolicyFile(file('num.yaml', 'delete_image: 5\n')), /"delete_image".*expected a rule string/);
    });
  });
});
