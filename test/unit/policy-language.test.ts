import assert from 'node:assert/strict';
import { type Check, compile, type Credentials, parseRule, PolicySyntaxError, type Target } from '../../src/domain/policy/language';

/** oslo.policy's rule language: what a rule string allows, for given credentials and target. */
function allows(rule: string | Array<string | string[]>, creds: Partial<Credentials> & Record<string, unknown>, target: Target = {}, rules: Record<string, string> = {}): boolean {
  const compiled = new Map<string, Check>(Object.entries(rules).map(([name, text]) => [name, compile(parseRule(text), resolve)] as const));
  function resolve(name: string): Check {
    const check = compiled.get(name);
    if (!check) throw new Error(`no rule ${name}`);
    return check;
  }
  return compile(parseRule(rule), resolve)({ roles: [], ...creds }, target);
}

describe('policy rule language (oslo.policy)', function () {
  const member = { roles: ['member', 'reader'], project_id: 'p1', user_id: 'u1' };

  it('"" and "@" allow everyone, "!" no one', function () {
    assert.equal(allows('', {}), true);
    assert.equal(allows('@', {}), true);
    assert.equal(allows('!', member), false);
  });

  it('role: matches a role of the caller, case-insensitively', function () {
    assert.equal(allows('role:member', member), true);
    assert.equal(allows('role:Member', member), true);
    assert.equal(allows('role:admin', member), false);
  });

  it('project_id:%(project_id)s compares the credential with the target value', function () {
    assert.equal(allows('project_id:%(project_id)s', member, { project_id: 'p1' }), true);
    assert.equal(allows('project_id:%(project_id)s', member, { project_id: 'p2' }), false);
    assert.equal(allows('project_id:%(project_id)s', member, {}), false, 'a missing target key is false');
    assert.equal(allows('project_id:%(owner)s', { project_id: null }, { owner: null }), true, 'None on both sides, as Python prints it');
  });

  it('%(target.field)s names the whole key, dots included', function () {
    assert.equal(allows('user_id:%(target.user.id)s', member, { 'target.user.id': 'u1' }), true);
    assert.equal(allows('user_id:%(target.user.id)s', member, { target: { user: { id: 'u1' } } }), false);
  });

  it('a literal on the left compares with the target: quoted strings, True, numbers', function () {
    assert.equal(allows("'public':%(visibility)s", {}, { visibility: 'public' }), true);
    assert.equal(allows('"public":%(visibility)s', {}, { visibility: 'shared' }), false);
    assert.equal(allows('True:%(protected)s', {}, { protected: true }), true);
    assert.equal(allows('True:%(protected)s', {}, { protected: false }), false);
    assert.equal(allows('10:%(size)s', {}, { size: 10 }), true);
  });

  it('is_admin:True and dotted credential paths (lists match any element)', function () {
    assert.equal(allows('is_admin:True', { is_admin: true }), true);
    assert.equal(allows('is_admin:True', { is_admin: false }), false);
    assert.equal(allows('groups.name:ops', { groups: [{ name: 'dev' }, { name: 'ops' }] }), true);
    assert.equal(allows('groups.name:qa', { groups: [{ name: 'dev' }, { name: 'ops' }] }), false);
  });

  it('and binds tighter than or; not applies to one check; parentheses group', function () {
    assert.equal(allows('role:admin or role:member and project_id:p2', member), false);
    assert.equal(allows('(role:admin or role:member) and project_id:p1', member), true);
    assert.equal(allows('role:member and not role:admin', member), true);
    assert.equal(allows('not role:member or role:reader', member), true);
    assert.equal(allows('not (role:member or role:admin)', member), false);
    assert.equal(allows('((role:member))', member), true);
    assert.equal(allows('role:member AND role:reader', member), true, 'operators are case-insensitive');
  });

  it('rule: evaluates another rule', function () {
    const rules = { admin: 'role:admin', owner: 'project_id:%(project_id)s' };
    assert.equal(allows('rule:admin or rule:owner', member, { project_id: 'p1' }, rules), true);
    assert.equal(allows('rule:admin or rule:owner', member, { project_id: 'p9' }, rules), false);
  });

  it('the old list-of-lists form: outer or, inner and; [] allows everyone', function () {
    assert.equal(allows([['role:admin'], ['role:member', 'project_id:%(project_id)s']], member, { project_id: 'p1' }), true);
    assert.equal(allows([['role:admin'], ['role:member', 'project_id:%(project_id)s']], member, { project_id: 'p2' }), false);
    assert.equal(allows([], {}), true);
  });

  it('refuses what oslo.policy would silently turn into "!": each with a reason', function () {
    const bad = [
      ['role:admin and', /ends where a check/],
      ['role:admin or or role:member', /"or" stands where a check/],
      ['(role:admin', /not closed/],
      ['role:admin)', /closes nothing/],
      ['admin', /not a check/],
      ['role:admin role:member', /after a complete rule/],
      ["'quoted'", /quoted string/],
      ['http://example.com/check', /not supported/],
      ['project_id:%(project_id)d', /only %\(name\)s/],
      ['   ', /only spaces/],
      ['rule:', /names no rule/],
    ] as const;
    for (const [rule, reason] of bad) {
      assert.throws(() => parseRule(rule), (err: Error) => err instanceof PolicySyntaxError && reason.test(err.message), rule);
    }
  });
});
