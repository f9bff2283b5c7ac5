import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { KnexCatalog } from '../../src/catalog/knex-catalog';
import { parseDatabaseUrl } from '../../src/config/database-url';
import { runManage } from '../support/process';

/**
 * glint-manage db load_metadefs / export_metadefs / unload_metadefs as processes, on the metadef
 * files Debian's glance-common ships in /etc/glance/metadefs (.ci/install-system-packages.sh
 * installs it), then read back through the catalog.
 */
const GLANCE_METADEFS = '/etc/glance/metadefs';


const results = (stdout: string) => stdout.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as { file: string; namespace: string; result: string; error?: string });

describe('glint-manage db load_metadefs (processes, Glance\'s metadef files)', function () {
  this.timeout(180_000);
  let dir: string;
  let conf: string;
  let url: string;
  const files = existsSync(GLANCE_METADEFS) ? readdirSync(GLANCE_METADEFS).filter((f) => f.endsWith('.json')) : [];

  before(async function () {
    assert.ok(files.length >= 20, `${GLANCE_METADEFS} holds Glance's metadef files (Debian glance-common; .ci/install-system-packages.sh)`);
    dir = mkdtempSync(path.join(tmpdir(), 'glint-metadefs-'));
    conf = path.join(dir, 'glint.conf');
    url = `sqlite:///${path.join(dir, 'glint.db')}`;
    writeFileSync(conf, `[database]\nconnection = ${url}\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function withCatalog<T>(work: (catalog: KnexCatalog) => Promise<T>): Promise<T> {
    const catalog = await KnexCatalog.open(parseDatabaseUrl(url));
    try {
      return await work(catalog);
    } finally {
      await catalog.close();
    }
  }
  const namespaces = () => withCatalog((c) => c.metadefs.listNamespaces({ scope: { kind: 'everything' }, sort: { key: 'namespace', dir: 'asc' }, limit: 1000 }));

  it('before db sync: exit 2, telling to run it', async function () {
    const run = await runManage(['--config-file', conf, 'db', 'load_metadefs', GLANCE_METADEFS], dir);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /run glint-manage db sync first/);
  });

  it('loads every file once; loading again (plain or --merge) changes nothing and duplicates nothing', async function () {
    assert.equal((await runManage(['--config-file', conf, 'db', 'sync'], dir)).code, 0);
    const first = await runManage(['--config-file', conf, 'db', 'load_metadefs', GLANCE_METADEFS], dir);
    assert.equal(first.code, 0, first.stderr);
    const loaded = results(first.stdout);
    assert.equal(loaded.length, files.length);
    assert.ok(loaded.every((r) => r.result === 'created'), JSON.stringify(loaded.filter((r) => r.result !== 'created')));
    const after = await namespaces();
    assert.equal(after.length, files.length);
    const watchdog = JSON.parse(readFileSync(path.join(GLANCE_METADEFS, 'compute-watchdog.json'), 'utf8')) as { namespace: string; properties: Record<string, unknown> };
    const counts = await withCatalog(async (c) => {
      const ns = (await c.metadefs.getNamespace(watchdog.namespace))!;
      assert.equal(ns.owner, 'admin');
      assert.equal(ns.protected, true);
      const types = await c.metadefs.listResourceTypes();
      assert.ok(types.some((t) => t.name === 'OS::Glance::Image' && t.protected));
      const rows = async (table: string) => Number(((await c.knex(table).count({ n: '*' })) as Array<{ n: number }>)[0].n);
      assert.deepEqual(Object.keys(Object.fromEntries((await c.metadefs.listProperties(ns.id)).map((p) => [p.name, p]))), Object.keys(watchdog.properties));
      return Object.fromEntries(await Promise.all(['metadef_objects', 'metadef_properties', 'metadef_tags', 'metadef_namespace_resource_types', 'metadef_resource_types'].map(async (t) => [t, await rows(t)])));
    });
    assert.ok(counts.metadef_properties > 100, JSON.stringify(counts));

    const again = await runManage(['--config-file', conf, 'db', 'load_metadefs', GLANCE_METADEFS], dir);
    assert.ok(results(again.stdout).every((r) => r.result === 'skipped'));
    const merged = await runManage(['--config-file', conf, 'db', 'load_metadefs', GLANCE_METADEFS, '--merge'], dir);
    assert.equal(merged.code, 0);
    assert.ok(results(merged.stdout).every((r) => r.result === 'updated'));
    const recounted = await withCatalog(async (c) =>
      Object.fromEntries(await Promise.all(Object.keys(counts).map(async (t) => [t, Number(((await c.knex(t).count({ n: '*' })) as Array<{ n: number }>)[0].n)]))),
    );
    assert.deepEqual(recounted, counts);
    assert.equal((await namespaces()).length, files.length);
  });

  it('export writes files load reads back; --merge --prefer_new takes a changed file; a broken file fails alone (exit 1)', async function () {
    const out = path.join(dir, 'export');
    const exported = await runManage(['--config-file', conf, 'db', 'export_metadefs', out], dir);
    assert.equal(exported.code, 0, exported.stderr);
    assert.equal(readdirSync(out).length, files.length);
    const changedFile = path.join(out, 'OS::Compute::Watchdog.json');
    const doc = JSON.parse(readFileSync(changedFile, 'utf8')) as Record<string, unknown>;
    assert.equal(doc.namespace, 'OS::Compute::Watchdog');
    doc.display_name = 'Watchdog (changed)';
    writeFileSync(changedFile, JSON.stringify(doc));
    const broken = path.join(dir, 'broken');
    mkdirSync(broken);
    writeFileSync(path.join(broken, 'a-broken.json'), '{"namespace": ');
    writeFileSync(path.join(broken, 'b-no-name.json'), '{"display_name": "x"}');
    writeFileSync(path.join(broken, 'c-good.json'), readFileSync(changedFile));
    const run = await runManage(['--config-file', conf, 'db', 'load_metadefs', broken, '--merge', '--prefer_new'], dir);
    assert.equal(run.code, 1);
    assert.deepEqual(results(run.stdout).map((r) => r.result), ['failed', 'failed', 'updated']);
    assert.match(String(results(run.stdout)[1].error), /namespace is missing/);
    const watchdog = await withCatalog((c) => c.metadefs.getNamespace('OS::Compute::Watchdog'));
    assert.equal(watchdog?.displayName, 'Watchdog (changed)');
    const badFlags = await runManage(['--config-file', conf, 'db', 'load_metadefs', broken, '--overwrite'], dir);
    assert.equal(badFlags.code, 2);
    assert.match(badFlags.stderr, /need --merge/);
  });

  it('unload_metadefs empties the metadefs tables', async function () {
    const run = await runManage(['--config-file', conf, 'db', 'unload_metadefs'], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await namespaces()).length, 0);
    assert.deepEqual(await withCatalog((c) => c.metadefs.listResourceTypes()), []);
  });
});
