import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { buildApp, type GlintApp } from '../../../src/app';
import { loadConfig } from '../../../src/config/load';
import { createLogger } from '../../../src/lib/logger';
import { as, TRUSTED_RBAC } from '../../support/app';
import { runGlintToExit } from '../../support/process';
import { activeImage, createImage, getImage, patchImage, RAW_BARE } from './support/harness';

/**
 * Operators' policy files: `[oslo_policy] policy_file` (YAML or JSON, relative to the config
 * file's folder) overrides Glance's rules by name, and a file glint cannot use stops start-up
 * with a message naming the rule.
 */

interface PolicyApp {
  app: GlintApp;
  http: TestAgent;
  dir: string;
  close(): Promise<void>;
}

/** A glint whose glint.conf names `policyName` relatively; both files sit in a folder that is not the cwd. */
async function withPolicyFile(policyName: string, policyText: string, ini = ''): Promise<PolicyApp> {
  const dir = mkdtempSync(path.join(tmpdir(), 'glint-policy-'));
  writeFileSync(path.join(dir, policyName), policyText);
  const file = path.join(dir, 'glint.conf');
  writeFileSync(file, `${TRUSTED_RBAC}[oslo_policy]\npolicy_file = ${policyName}\n${ini}[glance_store]\nfilesystem_store_datadir = ${dir}/images\n`);
  const config = loadConfig({ file, env: { GLINT_DATABASE_CONNECTION: 'sqlite://' }, warn: () => {} });
  try {
    const app = await buildApp(config, { logger: createLogger({ silent: true }), accessLog: null });
    // supertest's agent, shaped as the harness's TestApp expects
    return { app, http: request.agent(app.koa.callback()), dir, close: async () => (await app.close(), rmSync(dir, { recursive: true, force: true })) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

const MEMBER = as('projA', 'member,reader');
const ADMIN = as('projAdmin', 'admin,member,reader');

describe('Glance v2: policy files', function () {
  it('YAML: "delete_image": "role:admin" — the owning member now gets 403 on DELETE, an admin deletes; other rules unchanged', async function () {
    const t = await withPolicyFile('policy.yaml', '# only admins delete images\n"delete_image": "role:admin"\n');
    try {
      const harness = t as unknown as Parameters<typeof createImage>[0];
      const id = (await createImage(harness, RAW_BARE, MEMBER)).id as string;
      const refused = await t.http.delete(`/v2/images/${id}`).set(MEMBER);
      assert.equal(refused.status, 403);
      assert.equal((await getImage(harness, id, MEMBER)).status, 'queued', 'still there');
      assert.equal((await patchImage(harness, id, [{ op: 'replace', path: '/name', value: 'kept' }], MEMBER)).status, 200, 'modify_image is the default');
      assert.equal((await t.http.delete(`/v2/images/${id}`).set(ADMIN)).status, 204);
    } finally {
      await t.close();
    }
  });

  it('JSON with aliases: context_is_admin becomes role:cloud_admin — that role publicizes and sees everything, "admin" no longer does', async function () {
    const policy = { cloud_admin: 'role:cloud_admin', context_is_admin: 'rule:cloud_admin', get_images: 'rule:context_is_admin or role:reader' };
    const t = await withPolicyFile('policy.json', JSON.stringify(policy, null, 2));
    try {
      const harness = t as unknown as Parameters<typeof createImage>[0];
      const cloud = as('projOps', 'cloud_admin');
      const id = (await activeImage(harness, Buffer.from('x'), { visibility: 'private' }, MEMBER)).id as string;
      assert.equal((await t.http.get(`/v2/images/${id}`).set(cloud)).status, 200, 'is_admin sees private images of other projects');
      assert.equal((await patchImage(harness, id, [{ op: 'replace', path: '/visibility', value: 'public' }], ADMIN)).status, 404, 'plain admin: not even visible');
      assert.equal((await patchImage(harness, id, [{ op: 'replace', path: '/visibility', value: 'public' }], cloud)).status, 200);
    } finally {
      await t.close();
    }
  });

  it('an empty policy file (comments only) means Glance defaults', async function () {
    const t = await withPolicyFile('policy.yaml', '# nothing overridden\n');
    try {
      const harness = t as unknown as Parameters<typeof createImage>[0];
      const id = (await createImage(harness, RAW_BARE, MEMBER)).id as string;
      assert.equal((await t.http.delete(`/v2/images/${id}`).set(MEMBER)).status, 204);
    } finally {
      await t.close();
    }
  });

  it('start-up fails naming the rule: unparsable rule, undefined rule:, a file that is not YAML', async function () {
    await assert.rejects(withPolicyFile('policy.yaml', '"delete_image": "role:admin and"\n'), /policy rule "delete_image" \(.*policy\.yaml\): cannot parse "role:admin and"/);
    await assert.rejects(withPolicyFile('policy.yaml', '"get_image": "rule:admin_or_owner"\n'), /policy rule "get_image" refers to rule:admin_or_owner, which is not defined/);
    await assert.rejects(withPolicyFile('policy.yaml', '"get_image": "role:admin\n'), /policy file .*policy\.yaml is neither YAML nor JSON/);
  });

  it('the server process refuses to start (exit 2) with "glint: policy error" naming the rule, before serving or forking', async function () {
    this.timeout(40_000);
    const dir = mkdtempSync(path.join(tmpdir(), 'glint-policy-proc-'));
    try {
      writeFileSync(path.join(dir, 'policy.yaml'), '"modify_image": "role:member and (project_id:%(project_id)s"\n');
      writeFileSync(path.join(dir, 'glint.conf'), `[DEFAULT]\nbind_port = 0\nworkers = 2\n[database]\nconnection = sqlite:///glint.db\n[oslo_policy]\npolicy_file = policy.yaml\n`);
      const { code, output } = await runGlintToExit(['--config-file', path.join(dir, 'glint.conf')], tmpdir());
      assert.equal(code, 2, output);
      assert.match(output, /glint: policy error: policy rule "modify_image" \(.*policy\.yaml\): cannot parse .*: a "\(" is not closed/);
      assert.doesNotMatch(output, /listening/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
