import { availableParallelism } from 'node:os';
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigError, configPathFromArgs, loadConfig } from '../../src/config/load';
import { renderSampleConfig } from '../../src/config/sample';

describe('configuration (glance-api.conf layout)', () => {
  let dir: string;
  const write = (text: string) => {
    const file = path.join(dir, 'glint.conf');
    writeFileSync(file, text);
    return file;
  };
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'glint-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('defaults serve 127.0.0.1:9292 with SQLite at ./data/glint.db and a filesystem store at ./data/images', () => {
    const config = loadConfig({ env: {}, baseDir: dir });
    assert.equal(config.server.bindHost, '127.0.0.1');
    assert.equal(config.server.bindPort, 9292);
    assert.deepEqual(config.database, { client: 'sqlite', filename: path.join(dir, 'data/glint.db'), url: 'sqlite:///data/glint.db' });
    assert.equal(config.stores.multiStore, false);
    assert.deepEqual(config.stores.stores.map((s) => [s.id, s.type]), [['file', 'file']]);
    assert.equal(config.stores.stores[0].type === 'file' && config.stores.stores[0].dataDir, path.join(dir, 'data/images'));
    assert.equal(config.auth.flavor, 'none');
    assert.equal(config.limits.imageSizeCap, 1099511627776);
    assert.deepEqual(config.imports.enabledMethods, ['glance-direct', 'web-download', 'copy-image']);
  });

  it('reads named stores from enabled_backends with one section per store id', () => {
    const file = write(
      [
        '[DEFAULT]',
        'enabled_backends = fast:file, cold:s3',
        '[glance_store]',
        'default_backend = cold',
        '[fast]',
        'filesystem_store_datadir = /srv/fast',
        'description = Fast disks',
        '[cold]',
        's3_store_host = http://127.0.0.1:9000',
        's3_store_access_key = AK',
        's3_store_secret_key = SK',
        's3_store_bucket = images',
        's3_store_create_bucket_on_put = true',
        's3_store_checksum_mode = when_required',
        '[database]',
        'connection = mysql+pymysql://glance:secret@db.example:3307/glance?charset=utf8',
      ].join('\n'),
    );
    const config = loadConfig({ file, env: {}, baseDir: dir, warn: () => assert.fail('no warning expected') });
    assert.equal(config.stores.multiStore, true);
    assert.equal(config.stores.defaultStoreId, 'cold');
    const [fast, cold] = config.stores.stores;
    assert.deepEqual(fast, { id: 'fast', type: 'file', description: 'Fast disks', dataDir: '/srv/fast', chunkSize: 65536 });
    assert.equal(cold.type, 's3');
    if (cold.type === 's3') {
      assert.equal(cold.endpoint, 'http://127.0.0.1:9000');
      assert.equal(cold.bucket, 'images');
      assert.equal(cold.createBucketOnPut, true);
      assert.equal(cold.checksumMode, 'when_required');
      assert.equal(cold.forcePathStyle, true);
      assert.equal(cold.partSize, 10 * 1024 * 1024);
    }
    assert.equal(config.database.client, 'mysql');
    if (config.database.client === 'mysql') {
      assert.deepEqual(
        [config.database.host, config.database.port, config.database.user, config.database.password, config.database.database],
        ['db.example', 3307, 'glance', 'secret', 'glance'],
      );
    }
  });

  it('lets GLINT_<SECTION>_<KEY> override the file', () => {
    const file = write('[DEFAULT]\nbind_port = 9000\n');
    const config = loadConfig({ file, env: { GLINT_DEFAULT_BIND_PORT: '9393', GLINT_PASTE_DEPLOY_FLAVOR: 'trusted-auth' }, baseDir: dir });
    assert.equal(config.server.bindPort, 9393);
    assert.equal(config.auth.flavor, 'trusted-auth');
  });

  it('reads lists plain or in the bracketed form of glance-api.conf samples', () => {
    const file = write('[DEFAULT]\nenabled_import_methods = [glance-direct, web-download]\n');
    assert.deepEqual(loadConfig({ file, env: {}, baseDir: dir }).imports.enabledMethods, ['glance-direct', 'web-download']);
    const plain = write('[DEFAULT]\nenabled_import_methods = glance-direct,copy-image\n');
    assert.deepEqual(loadConfig({ file: plain, env: {}, baseDir: dir }).imports.enabledMethods, ['glance-direct', 'copy-image']);
  });

  it('parses user_storage_quota with binary unit suffixes', () => {
    const config = loadConfig({ env: { GLINT_DEFAULT_USER_STORAGE_QUOTA: '5GB' }, baseDir: dir });
    assert.equal(config.limits.userStorageQuota, 5 * 1024 ** 3);
  });

  it('runs one worker per CPU (at most 8) unless [DEFAULT] workers says otherwise; in-memory SQLite serves in-process', () => {
    assert.equal(loadConfig({ env: {}, baseDir: dir }).server.workers, Math.min(availableParallelism(), 8));
    assert.equal(loadConfig({ env: { GLINT_DEFAULT_WORKERS: '0' }, baseDir: dir }).server.workers, 0);
    assert.equal(loadConfig({ env: { GLINT_DEFAULT_WORKERS: '12' }, baseDir: dir }).server.workers, 12);
    assert.equal(loadConfig({ env: { GLINT_DEFAULT_WORKERS: '4', GLINT_DATABASE_CONNECTION: 'sqlite://' }, baseDir: dir }).server.workers, 0);
    assert.throws(() => loadConfig({ env: { GLINT_DEFAULT_WORKERS: '-1' }, baseDir: dir }), /\[DEFAULT\] workers: "-1"/);
  });

  it('warns about a typo, naming the key and the file', () => {
    const file = write('[DEFAULT]\nbind_prot = 9000\n');
    const warnings: string[] = [];
    loadConfig({ file, env: {}, baseDir: dir, warn: (m) => warnings.push(m) });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /bind_prot/);
    assert.ok(warnings[0].includes(file));
  });

  it('stops on a bad value with a message naming the key and the file', () => {
    const file = write('[DEFAULT]\nbind_port = ninety\n');
    assert.throws(
      () => loadConfig({ file, env: {}, baseDir: dir }),
      (err: Error) => err instanceof ConfigError && err.message.includes(file) && /\[DEFAULT\] bind_port/.test(err.message) && /ninety/.test(err.message),
    );
  });

  it('names the environment variable when an override is bad', () => {
    assert.throws(() => loadConfig({ env: { GLINT_DEFAULT_SHOW_IMAGE_DIRECT_URL: 'perhaps' }, baseDir: dir }), /GLINT_DEFAULT_SHOW_IMAGE_DIRECT_URL/);
  });

  for (const [why, text, pattern] of [
    ['an unknown store type', '[DEFAULT]\nenabled_backends = fast:rbd\n[glance_store]\ndefault_backend = fast\n', /unsupported type "rbd"/],
    ['a default_backend that is not enabled', '[DEFAULT]\nenabled_backends = fast:file\n[glance_store]\ndefault_backend = slow\n', /default_backend "slow"/],
    ['a missing default_backend', '[DEFAULT]\nenabled_backends = fast:file\n', /default_backend is required/],
    ['a reserved store id', '[DEFAULT]\nenabled_backends = os_glance_staging_store:file\n', /reserved/],
    ['an s3 store without a host', '[DEFAULT]\nenabled_backends = c:s3\n[glance_store]\ndefault_backend = c\n', /s3_store_host is required/],
    ['an unsupported database', '[database]\nconnection = postgresql://u@h/db\n', /\[database\] connection/],
    ['an unknown flavor', '[paste_deploy]\nflavor = magic\n', /flavor/],
    ['an unknown import method', '[DEFAULT]\nenabled_import_methods = glance-direct,teleport\n', /teleport/],
  ] as const) {
    it(`refuses ${why}`, () => {
      assert.throws(() => loadConfig({ file: write(text), env: {}, baseDir: dir }), pattern);
    });
  }

  it('takes the path from --config-file or GLINT_CONFIG', () => {
    assert.equal(configPathFromArgs(['--config-file', '/etc/glint.conf'], {}), '/etc/glint.conf');
    assert.equal(configPathFromArgs(['--config-file=/x.conf'], { GLINT_CONFIG: '/y.conf' }), '/x.conf');
    assert.equal(configPathFromArgs([], { GLINT_CONFIG: '/y.conf' }), '/y.conf');
    assert.equal(configPathFromArgs([], {}), null);
  });

  it('ships etc/glint.conf listing every key, equal to the schema rendering, loading without warnings', () => {
    const shipped = readFileSync(path.join(__dirname, '../../etc/glint.conf'), 'utf8');
    assert.equal(shipped, renderSampleConfig(), 'etc/glint.conf is stale: run npx tsx scripts/render-sample-config.ts');
    loadConfig({ file: path.join(__dirname, '../../etc/glint.conf'), env: {}, baseDir: dir, warn: (m) => assert.fail(m) });
  });
});
