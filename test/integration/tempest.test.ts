import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { authtokenIni, startKeystone, type TestKeystone } from '../support/keystone';
import { createTestDatabase, type TestDatabase } from '../support/mysql';
import { runManage, startGlintProcess, type GlintProcess } from '../support/process';
import { failureDetail, runTempest, tempestConf, type TempestRun } from '../support/tempest';

/**
 * Tempest's `tempest.api.image.v2` (Debian's tempest 33) against a glint process behind the real
 * Keystone of test/support/keystone.ts, registered there as the `image` service. The README's
 * "Tempest" section has the figures, the reference run of the real Glance 25.1 and the reasons.
 *
 * glint runs as an operator would run it (src/main.ts, its default worker count), once on an
 * SQLite file catalog and once on MariaDB, with two filesystem stores named in alphabetical
 * order — Tempest compares an image's `stores` with the sorted store ids, and glint, like Glance,
 * lists them in import order — and web-download allowed from a loopback HTTP server that serves
 * the `http_image` Tempest imports and from the host of Tempest's bad-URL import (which must then
 * fail in its task).
 */

const REGEX = '^tempest\\.api\\.image\\.v2';
/** Glance's metadef files, from Debian's glance-common (the metadefs tests need its resource types). */
const METADEFS_DIR = '/etc/glance/metadefs';
/**
 * Passed tests at least: glint passed 68 of 76 on 2026-12-05. The real Glance 25.1 here passes 67
 * with the same Keystone, stores and tempest.conf (66 when web-download points at the Internet,
 * which is not reachable here): it refuses the bad-URL import at the API because it cannot resolve
 * the host, where glint, whose allowed_hosts lists it, accepts it and fails it in the task.
 */
const PASSED_FLOOR = 68;
/** Tests allowed to fail, each with why; any other failure fails this test. None today. */
const KNOWN_FAILURES: Record<string, string> = {};

describe('Tempest image v2 suite against glint behind a real Keystone', function () {
  let ks: TestKeystone;
  let imageServer: { server: Server; port: number; url: string } | undefined;
  let root: string;

  before(async function () {
    this.timeout(300_000);
    root = mkdtempSync(path.join(tmpdir(), 'glint-tempest-'));
    ks = await startKeystone();
    imageServer = await serveHttpImage(randomBytes(64 * 1024));
  });

  after(async function () {
    this.timeout(60_000);
    await ks?.stop();
    await new Promise((resolve) => (imageServer ? imageServer.server.close(resolve) : resolve(undefined)));
    if (root && !process.env.GLINT_TEST_KEEP_TEMPEST) rmSync(root, { recursive: true, force: true });
  });

  // SQLite: the default catalog; MariaDB: the one nodes share (it found a race SQLite hid).
  for (const catalog of ['SQLite', 'MariaDB'] as const) describe(`catalog on ${catalog}`, function () {
    let glint: GlintProcess | undefined;
    let db: TestDatabase | undefined;
    let run: TempestRun;

    before(async function () {
      this.timeout(900_000);
      const dir = path.join(root, catalog.toLowerCase());
      mkdirSync(dir);
      if (catalog === 'MariaDB') db = await createTestDatabase();
      const conf = path.join(dir, 'glint.conf');
      writeFileSync(conf, glintConf(ks, dir, db?.config.url ?? `sqlite:///${path.join(dir, 'glint.db')}`, imageServer!.port));
      // As an operator deploys: the catalog migrated and Glance's metadef files (Debian's glance-common) loaded first.
      await glintManage(['--config-file', conf, 'db', 'sync'], dir);
      await glintManage(['--config-file', conf, 'db', 'load_metadefs', METADEFS_DIR], dir);
      glint = await startGlintProcess(['--config-file', conf], { cwd: dir, port: ks.imagePort });
      const tempestDir = path.join(dir, 'tempest');
      mkdirSync(tempestDir);
      const tempestFile = path.join(tempestDir, 'tempest.conf');
      writeFileSync(tempestFile, tempestConf(ks, { dir: tempestDir, httpImage: imageServer!.url }));
      run = await runTempest({ dir: tempestDir, confFile: tempestFile, regex: REGEX, concurrency: 2, timeoutMs: 840_000 });
      process.stdout.write(
        `      (Tempest on ${catalog}: ${run.passed.length} passed, ${run.failed.length} failed, ${run.skipped.length} skipped of ` +
          `${run.results.length} in ${(run.wallMs / 1000).toFixed(0)} s; Keystone ready in ${(ks.startupMs / 1000).toFixed(1)} s)\n`,
      );
    });

    after(async function () {
      this.timeout(60_000);
      await glint?.stop();
      await db?.drop();
    });

    it('runs the whole module: every image v2 test reports an outcome', function () {
      assert.ok(run.results.length >= 76, `Tempest reported ${run.results.length} outcomes, the module has 76 tests`);
    });

    it('fails only the known tests, each for its recorded reason', function () {
      const unexpected = run.failed.filter((id) => !(id in KNOWN_FAILURES));
      assert.deepEqual(
        unexpected,
        [],
        `unexpected Tempest failures:\n${unexpected.map((id) => failureDetail(run, id)).join('\n\n')}\n--- glint ---\n${glint?.output().slice(-4000)}`,
      );
    });

    it(`passes at least ${PASSED_FLOOR} tests (the real Glance 25.1 here: 67)`, function () {
      assert.ok(run.passed.length >= PASSED_FLOOR, `passed ${run.passed.length} < ${PASSED_FLOOR}; failed: ${run.failed.join(', ')}`);
    });
  });
});

/** glint's config: keystone flavour, two filesystem stores in alphabetical order, web-download from the loopback image server. */
function glintConf(ks: TestKeystone, dir: string, connection: string, webPort: number): string {
  return [
    '[DEFAULT]',
    'bind_host = 127.0.0.1',
    `bind_port = ${ks.imagePort}`,
    'enabled_backends = cheap:file, fast:file',
    'enabled_import_methods = glance-direct,web-download,copy-image',
    '[database]',
    `connection = ${connection}`,
    '[glance_store]',
    'default_backend = fast',
    '[cheap]',
    `filesystem_store_datadir = ${path.join(dir, 'cheap')}`,
    '[fast]',
    `filesystem_store_datadir = ${path.join(dir, 'fast')}`,
    '[import_filtering_opts]',
    // does-not.exist: Tempest's bad-URL import, allowed so that its download fails in the task
    'allowed_hosts = 127.0.0.1, does-not.exist',
    `allowed_ports = ${webPort}`,
    authtokenIni(ks),
  ].join('\n');
}

/** Runs glint-manage (src/manage.ts) on the config file; rejects with its output unless it exits 0. */
async function glintManage(args: string[], cwd: string): Promise<void> {
  const { code, stdout, stderr } = await runManage(args, cwd, process.env);
  if (code !== 0) throw new Error(`glint-manage ${args.slice(2).join(' ')}: exit ${String(code)}\n${stdout}\n${stderr}`);
}

/** A loopback HTTP server answering every GET with `body`: the image Tempest's web-download test imports. */
async function serveHttpImage(body: Buffer): Promise<{ server: Server; port: number; url: string }> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { server, port, url: `http://127.0.0.1:${port}/cirros.img` };
}
