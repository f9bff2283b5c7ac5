import assert from 'node:assert/strict';
import { KnexCatalog } from '../../../src/catalog/knex-catalog';
import { parseDatabaseUrl } from '../../../src/config/database-url';
import { contextFromIdentity } from '../../../src/domain/context';
import { isGlintError } from '../../../src/domain/errors';
import { EMPTY_CONTENTS } from '../../../src/domain/metadefs/model';
import { metadefAuthorizerFrom, type RuleEvaluator } from '../../../src/domain/metadefs/policy';
import { MetadefService } from '../../../src/domain/metadefs/service';

/** The metadefs service under a deployment's policy engine (what src/domain/policy plugs in). */
describe('metadefs: policies from a rule evaluator', function () {
  let catalog: KnexCatalog;
  const seen: Array<{ rule: string; target: Readonly<Record<string, unknown>> }> = [];
  // secure-RBAC-like: readers read public namespaces and their project's; "curator" may add tags
  const evaluator: RuleEvaluator = {
    allows(ctx, rule, target) {
      seen.push({ rule, target });
      const reader = ctx.roles.includes('reader') && (target.project_id === ctx.projectId || target.visibility === 'public');
      if (rule.startsWith('get_') || rule.startsWith('list_')) return ctx.roles.includes('admin') || reader;
      return ctx.roles.includes('admin') || (rule === 'add_metadef_tag' && ctx.roles.includes('curator'));
    },
  };
  const who = (project: string, roles: string[]) => contextFromIdentity('req-1', { userId: 'u', projectId: project, roles });

  before(async function () {
    catalog = await KnexCatalog.open(parseDatabaseUrl('sqlite://'));
    await catalog.migrate();
    await catalog.metadefs.createNamespace({ namespace: 'shared', displayName: null, description: null, visibility: 'public', protected: false, owner: 'p1' }, EMPTY_CONTENTS);
  });
  after(() => catalog.close());

  it('passes Glance\'s target (owner as project_id, visibility); a refusal is 403 where the namespace may be seen, 404 where not', async function () {
    const service = new MetadefService({ metadefs: catalog.metadefs, authorize: metadefAuthorizerFrom(evaluator) });
    const curator = who('p2', ['curator', 'reader']);
    assert.equal((await service.createTag(curator, 'shared', 'blue')).name, 'blue');
    assert.ok(seen.some((s) => s.rule === 'add_metadef_tag' && s.target.project_id === 'p1' && s.target.visibility === 'public'));
    await assert.rejects(service.deleteTag(curator, 'shared', 'blue'), (err: unknown) => isGlintError(err, 'NOT_AUTHORIZED'));
    // no reader role: the namespace cannot be seen by policy, so the refusal hides it
    const stranger = who('p3', ['member']);
    await assert.rejects(service.createTag(stranger, 'shared', 'red'), (err: unknown) => isGlintError(err, 'METADEF_NOT_FOUND'));
    await assert.rejects(service.getNamespace(stranger, 'shared'), (err: unknown) => isGlintError(err, 'METADEF_NOT_FOUND'));
    // creating a namespace has no namespace target: the caller's project
    seen.length = 0;
    await assert.rejects(service.createNamespace(curator, { namespace: 'x' }, EMPTY_CONTENTS), (err: unknown) => isGlintError(err, 'NOT_AUTHORIZED'));
    assert.deepEqual(seen[0], { rule: 'add_metadef_namespace', target: { project_id: 'p2' } });
  });

  it('without an evaluator: Glance\'s legacy rules (reads open, writes need the admin role)', async function () {
    const service = new MetadefService({ metadefs: catalog.metadefs });
    const member = who('p2', ['member']);
    assert.equal((await service.getNamespace(member, 'shared')).namespace.namespace, 'shared');
    await assert.rejects(service.createTag(member, 'shared', 'green'), (err: unknown) => isGlintError(err, 'NOT_AUTHORIZED'));
    assert.equal((await service.createTag(who('p9', ['admin']), 'shared', 'green')).name, 'green');
  });
});
