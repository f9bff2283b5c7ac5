import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runManage } from '../support/process';
import { randomData } from '../support/random-data';


const lines = (text: string) => text.split('\n').filter((line) => line.length > 0);
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

describe('glint-manage (processes on a config file)', function () {
  this.timeout(120_000);
  let dir: string;
  let conf: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'glint-manage-'));
    conf = path.join(dir, 'glint.conf');
    writeFileSync(
      conf,
      [
        '[DEFAULT]',
        'enabled_backends = fast:file, cold:file',
        '[database]',
        `connection = sqlite:///${path.join(dir, 'glint.db')}`,
        '[glance_store]',
        'default_backend = fast',
        '[fast]',
        `filesystem_store_datadir = ${path.join(dir, 'fast')}`,
        '[cold]',
        `filesystem_store_datadir = ${path.join(dir, 'cold')}`,
        '',
      ].join('\n'),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--help lists every command; a command explains itself', async () => {
    const all = await runManage(['--help'], dir);
    assert.equal(all.code, 0);
    for (const name of ['db sync', 'db version', 'db check', 'image import', 'image export', 'store scrub', 'reconcile', 'image-store import']) {
      assert.ok(all.stdout.includes(name), `${name} is listed`);
    }
    const one = await runManage(['image', 'import', '--help'], dir);
    assert.equal(one.code, 0);
    assert.match(one.stdout, /--disk-format/);
    const unknown = await runManage(['--config-file', conf, 'db', 'frobnicate'], dir);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command: db frobnicate/);
  });

  it('a bad config file: exit 2 naming the key and the file; a missing one likewise', async () => {
    const bad = path.join(dir, 'bad.conf');
    writeFileSync(bad, '[DEFAULT]\nbind_port = not-a-port\n');
    for (const command of [['db', 'check'], ['store', 'scrub'], ['image', 'export', 'x', 'y'], ['reconcile']]) {
      const run = await runManage(['--config-file', bad, ...command], dir);
      assert.equal(run.code, 2, `${command.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /configuration error: .*bad\.conf: \[DEFAULT\] bind_port/);
    }
    const missing = await runManage(['--config-file', path.join(dir, 'nope.conf'), 'db', 'version'], dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.conf/);
  });

  it('db check before sync: exit 3 naming the pending migrations; db sync; db version; db check 0', async () => {
    const before = await runManage(['--config-file', conf, 'db', 'check'], dir);
    assert.equal(before.code, 3, before.stderr);
    assert.match(before.stdout, /migration\(s\) pending: 20261122000000_images/);
    const sync = await runManage(['--config-file', conf, 'db', 'sync'], dir);
    assert.equal(sync.code, 0, sync.stderr);
    const synced = JSON.parse(sync.stdout) as { applied: string[]; version: string };
    assert.ok(synced.applied.includes('20261122000000_images'));
    const version = await runManage(['--config-file', conf, 'db', 'version'], dir);
    assert.equal(version.code, 0);
    assert.deepEqual(JSON.parse(version.stdout), { database: `sqlite:///${path.join(dir, 'glint.db')}`, version: synced.version, applied: synced.applied.length, pending: [] });
    const check = await runManage(['--config-file', conf, 'db', 'check'], dir);
    assert.equal(check.code, 0);
    assert.match(check.stdout, /reachable, schema current/);
    const again = await runManage(['--config-file', conf, 'db', 'sync'], dir);
    assert.deepEqual((JSON.parse(again.stdout) as { applied: string[] }).applied, []);
  });

  const data = randomData(3 * 1024 * 1024 + 5);
  const other = randomData(200_000);
  let first: string;
  let second: string;

  it('image import off a TTY prints nothing but the final line; the image is active with the right digests, in the store asked for', async () => {
    const file = path.join(dir, 'disk.raw');
    writeFileSync(file, data);
    const run = await runManage(['--config-file', conf, 'image', 'import', file, '--name', 'cli', '--disk-format', 'raw', '--store', 'cold', '--property', 'os_distro=debian'], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '', 'no progress bar and no log lines off a TTY');
    assert.equal(lines(run.stdout).length, 1);
    const image = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(image.status, 'active');
    assert.equal(image.size, data.length);
    assert.equal(image.checksum, md5(data));
    assert.equal(image.os_hash_value, createHash('sha512').update(data).digest('hex'));
    assert.equal(image.stores, 'cold');
    first = image.id as string;
    assert.deepEqual(readFileSync(path.join(dir, 'cold', first)), data);

    const small = path.join(dir, 'small.raw');
    writeFileSync(small, other);
    const run2 = await runManage(['--config-file', conf, 'image', 'import', small, '--name', 'small', '--disk-format', 'raw'], dir);
    assert.equal(run2.code, 0, run2.stderr);
    second = (JSON.parse(run2.stdout) as { id: string }).id;
  });

  it('image import refusals: missing --disk-format is usage (2); an unknown store fails (1) naming it', async () => {
    const file = path.join(dir, 'disk.raw');
    const usage = await runManage(['--config-file', conf, 'image', 'import', file, '--name', 'x'], dir);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--disk-format is required/);
    const refused = await runManage(['--config-file', conf, 'image', 'import', file, '--name', 'nowhere', '--disk-format', 'raw', '--store', 'nowhere'], dir);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /nowhere/);
  });

  it('image export writes the bytes identical to what was imported', async () => {
    const out = path.join(dir, 'exported.raw');
    const run = await runManage(['--config-file', conf, 'image', 'export', first, out], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.equal((JSON.parse(run.stdout) as { checksum: string }).checksum, md5(data));
    assert.ok(readFileSync(out).equals(data));
    const unknown = await runManage(['--config-file', conf, 'image', 'export', '00000000-0000-0000-0000-000000000000', out], dir);
    assert.equal(unknown.code, 1);
  });

  it('store scrub: clean → 0; one corrupted and one missing object → both reported, exit 3; --store limits it', async () => {
    const clean = await runManage(['--config-file', conf, 'store', 'scrub'], dir);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.deepEqual(JSON.parse(clean.stdout), { images: 2, copies: 2, bytes: data.length + other.length, missing: 0, corrupt: 0, unreadable: 0, unknown_store: 0 });

    // same size, one flipped byte: only the digests can tell
    const corrupted = Buffer.from(data);
    corrupted[1000] ^= 0xff;
    writeFileSync(path.join(dir, 'cold', first), corrupted);
    unlinkSync(path.join(dir, 'fast', second));
    const dirty = await runManage(['--config-file', conf, 'store', 'scrub'], dir);
    assert.equal(dirty.code, 3, dirty.stderr);
    const out = lines(dirty.stdout).map((line) => JSON.parse(line) as Record<string, unknown>);
    const findings = out.slice(0, -1).sort((a, b) => String(a.problem).localeCompare(String(b.problem)));
    assert.deepEqual(
      findings.map((f) => [f.problem, f.imageId, f.storeId]),
      [
        ['corrupt', first, 'cold'],
        ['missing', second, 'fast'],
      ],
    );
    assert.match(String(findings[0].detail), /md5 .* catalog checksum/);
    assert.deepEqual(out.at(-1), { images: 2, copies: 2, bytes: data.length, missing: 1, corrupt: 1, unreadable: 0, unknown_store: 0 });

    const onlyFast = await runManage(['--config-file', conf, 'store', 'scrub', '--store', 'fast'], dir);
    assert.equal(onlyFast.code, 3);
    assert.equal(lines(onlyFast.stdout).length, 2);
    const appended = path.join(dir, 'cold', first);
    writeFileSync(appended, data);
    appendFileSync(appended, 'x');
    const longer = await runManage(['--config-file', conf, 'store', 'scrub', '--store', 'cold'], dir);
    assert.equal(longer.code, 3);
    assert.match(longer.stdout, /size 3145734, catalog 3145733/);
    const unknown = await runManage(['--config-file', conf, 'store', 'scrub', '--store', 'nowhere'], dir);
    assert.equal(unknown.code, 2);
  });

  it('reconcile: one pass, reported as JSON', async () => {
    const run = await runManage(['--config-file', conf, 'reconcile'], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(Object.keys(JSON.parse(run.stdout) as object).sort(), ['orphansDeleted', 'recovered', 'temporariesRemoved']);
  });
});
