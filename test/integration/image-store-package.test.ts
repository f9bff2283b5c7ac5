import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/process';
import { sha256, writeLayoutImage } from '../support/isulad-layout';

const run = promisify(execFile);

/**
 * The image-store library as a user gets it: `npm run build`, then `require('glint')` /
 * `import('glint')` from plain node (no tsx), and the glint-manage command on a config file.
 */
describe('the glint package: image-store library and glint-manage, built', function () {
  this.timeout(60_000);
  let dir: string;
  let configFile: string;

  before(async function () {
    this.timeout(180_000);
    await run('npm', ['run', 'build'], { cwd: REPO_ROOT }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`npm run build failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    });
    dir = mkdtempSync(path.join(tmpdir(), 'glint-package-'));
    configFile = path.join(dir, 'glint.conf');
    writeFileSync(configFile, `[database]\nconnection = sqlite:///${path.join(dir, 'glint.db')}\n\n[glance_store]\nfilesystem_store_datadir = ${path.join(dir, 'images')}\n`);
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function node(args: string[]): Promise<{ stdout: string; stderr: string }> {
    // cwd is the repository: `glint` resolves to it by its package name (self-reference through "exports")
    return run(process.execPath, args, { cwd: REPO_ROOT, timeout: 30_000 });
  }

  it('require("glint") gives the library with its types and starts no server', async () => {
    const started = Date.now();
    const { stdout } = await node(['-e', "const g = require('glint'); console.log(JSON.stringify(Object.keys(g).sort()), typeof g.ImageStore.open)"]);
    assert.equal(stdout.trim(), '["ImageStore","ImageStoreError"] function');
    assert.ok(Date.now() - started < 15_000, 'the process exits by itself: nothing listens');
    const types = readFileSync(path.join(REPO_ROOT, 'dist/src/index.d.ts'), 'utf8');
    assert.match(types, /ImageStore/);
    assert.match(types, /StoredImage/);
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { types: string; exports: { '.': { types: string } } };
    assert.ok(existsSync(path.join(REPO_ROOT, pkg.types)) && existsSync(path.join(REPO_ROOT, pkg.exports['.'].types)));
  });

  it('works from a plain node script (CommonJS and ESM) on a config file', async () => {
    const script = `
      const { ImageStore, ImageStoreError } = require('glint');
      (async () => {
        const store = await ImageStore.open({ configFile: ${JSON.stringify(configFile)} });
        const id = await store.create({ names: ['busybox:latest'] });
        await store.setBigData(id, 'manifest', Buffer.from('{"schemaVersion":2}'));
        const image = await store.get('busybox:latest');
        let code = null;
        try { await store.create({ id, names: [] }); } catch (err) { code = err instanceof ImageStoreError ? err.code : String(err); }
        console.log(JSON.stringify({ id: image.id === id, digest: await store.bigDataDigest(id, 'manifest'), code }));
        await store.close();
      })().catch((err) => { console.error(err); process.exit(1); });`;
    const { stdout } = await node(['-e', script]);
    assert.deepEqual(JSON.parse(stdout), { id: true, digest: sha256('{"schemaVersion":2}'), code: 'ID_IN_USE' });
    const esm = `import { ImageStore } from 'glint';
      const store = await ImageStore.open({ configFile: ${JSON.stringify(configFile)}, readonly: true });
      console.log((await store.images()).length);
      await store.close();`;
    assert.equal((await node(['--input-type=module', '-e', esm])).stdout.trim(), '1');
  });

  it('glint-manage imports and exports a layout, and refuses a bad config clearly', async () => {
    const source = path.join(dir, 'isulad');
    const image = writeLayoutImage(source, { seed: 'cli', names: ['docker.io/library/cli:1'] });
    const manage = path.join(REPO_ROOT, 'dist/src/manage.js');
    const imported = await node([manage, '--config-file', configFile, 'image-store', 'import', source]);
    assert.deepEqual(JSON.parse(imported.stdout), { imported: [image.id], skipped: [] });
    const out = path.join(dir, 'exported');
    await node([manage, `--config-file=${configFile}`, 'image-store', 'export', out]);
    assert.ok(readdirSync(path.join(out, image.id)).includes('images.json'));
    assert.deepEqual((JSON.parse(readFileSync(path.join(out, image.id, 'images.json'), 'utf8')) as { names: string[] }).names, ['cli:1']);

    const bad = path.join(dir, 'bad.conf');
    writeFileSync(bad, '[database]\nconnection = postgresql://u@h/db\n');
    await assert.rejects(node([manage, '--config-file', bad, 'image-store', 'export', out]), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /configuration error: .*\[database\] connection/);
      return true;
    });
    await assert.rejects(node([manage, 'image-store', 'frobnicate', out]), (err: { code: number; stderr: string }) => err.code === 2 && /usage/.test(err.stderr));
  });
});
