import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startKeystone, type TestKeystone, type UserKey } from '../support/keystone';
import { startGlintProcess } from '../support/process';

/**
 * Secure RBAC end to end: a glint server process behind a real Keystone with Glance's default
 * rules (enforce_new_defaults = true) and an operator's policy file that changes one rule
 * (`"delete_image": "role:admin"`), driven by the real `openstack` client with real tokens
 * (Keystone's implied roles: admin ⇒ member ⇒ reader).
 */
describe('secure RBAC and a policy file with the openstack client and a real Keystone', function () {
  this.timeout(120_000);
  let ks: TestKeystone;
  let dir: string;
  let glint: Awaited<ReturnType<typeof startGlintProcess>> | undefined;

  before(async function () {
    this.timeout(300_000);
    ks = await startKeystone();
    dir = mkdtempSync(path.join(tmpdir(), 'glint-policy-osc-'));
    writeFileSync(path.join(dir, 'policy.yaml'), '# operators: only admins delete images\n"delete_image": "role:admin"\n');
    const conf = path.join(dir, 'glint.conf');
    writeFileSync(
      conf,
      [
        '[DEFAULT]',
        'bind_host = 127.0.0.1',
        `bind_port = ${ks.imagePort}`,
        'workers = 0',
        '[database]',
        `connection = sqlite:///${path.join(dir, 'glint.db')}`,
        '[glance_store]',
        `filesystem_store_datadir = ${path.join(dir, 'images')}`,
        '[paste_deploy]',
        'flavor = keystone',
        '[keystone_authtoken]',
        `www_authenticate_uri = ${ks.authUrl}`,
        `auth_url = ${ks.url}`,
        `username = ${ks.users.glint.name}`,
        `password = ${ks.users.glint.password}`,
        'project_name = service',
        '[oslo_policy]',
        '# relative to this file, as oslo.policy resolves it',
        'policy_file = policy.yaml',
        '',
      ].join('\n'),
    );
    glint = await startGlintProcess(['--config-file', conf], { cwd: tmpdir(), port: ks.imagePort });
  });

  after(async function () {
    this.timeout(60_000);
    await glint?.stop();
    await ks?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** `openstack <args>` as a Keystone user; resolves with stdout, or with the failure's output. */
  const openstack = (user: UserKey, args: string[]) => {
    const u = ks.users[user];
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, LANG: 'C.UTF-8', PYTHONWARNINGS: 'ignore' };
    const argv = [
      '--os-auth-url', ks.authUrl,
      '--os-identity-api-version', '3',
      '--os-username', u.name,
      '--os-password', u.password,
      '--os-project-name', u.projectName,
      '--os-user-domain-name', 'Default',
      '--os-project-domain-name', 'Default',
      '--os-region-name', 'RegionOne',
      '--os-interface', 'public',
      '--os-image-api-version', '2',
      ...args,
    ];
    return new Promise<{ ok: boolean; stdout: string; stderr: string }>((resolve) => {
      const child = execFile('openstack', argv, { env, cwd: dir, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ ok: !err, stdout, stderr });
      });
      // without --file, `image create` reads image data from a stdin that is not a terminal
      child.stdin?.end();
    });
  };
  const succeeds = async (user: UserKey, args: string[]) => {
    const run = await openstack(user, args);
    assert.ok(run.ok, `openstack ${args.join(' ')} as ${user} failed:\n${run.stdout}\n${run.stderr}\n--- glint ---\n${glint?.output()}`);
    return run.stdout;
  };

  it('a member creates and uploads; the policy file makes its delete a 403; an admin of the project deletes', async function () {
    this.timeout(400_000);
    const file = path.join(dir, 'disk.img');
    writeFileSync(file, Buffer.from('policy test image\n'.repeat(500)));
    const created = JSON.parse(
      await succeeds('memberA', ['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '--file', file, '-f', 'json', 'rbac-image']),
    ) as { id: string; owner: string };
    // OSC prints the image as created, before the upload; the show below sees it active
    assert.equal(created.owner, ks.projects.projA);

    const refused = await openstack('memberA', ['image', 'delete', created.id]);
    assert.equal(refused.ok, false, 'the member may no longer delete');
    assert.match(refused.stderr, /403|Forbidden|not authorized/i);
    const still = JSON.parse(await succeeds('memberA', ['image', 'show', '-f', 'json', created.id])) as { status: string };
    assert.equal(still.status, 'active');

    await succeeds('adminA', ['image', 'delete', created.id]);
    const gone = await openstack('memberA', ['image', 'show', created.id]);
    assert.equal(gone.ok, false);
    assert.match(gone.stderr, /No Image found|Could not find|404/i);
  });

  it("Glance's defaults hold for the rules the file leaves alone: a reader lists and shows, cannot create or change", async function () {
    this.timeout(400_000);
    const image = JSON.parse(
      await succeeds('memberA', ['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', '-f', 'json', 'for-readers']),
    ) as { id: string };
    const listed = JSON.parse(await succeeds('readerA', ['image', 'list', '-f', 'json'])) as Array<{ ID: string }>;
    assert.ok(listed.some((i) => i.ID === image.id), 'the reader lists its project image');
    await succeeds('readerA', ['image', 'show', image.id]);
    const create = await openstack('readerA', ['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', 'by-reader']);
    assert.equal(create.ok, false, 'a reader may not create');
    assert.match(create.stderr, /403|Forbidden|not authorized/i);
    const rename = await openstack('readerA', ['image', 'set', '--name', 'renamed', image.id]);
    assert.equal(rename.ok, false, 'a reader may not change');
    const other = await openstack('memberB', ['image', 'show', image.id]);
    assert.equal(other.ok, false, "another project's member does not see a private image");
  });
});
