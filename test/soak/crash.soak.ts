import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runCrashScenario, type CrashFigures, type CrashScenario } from '../support/crash';
import { createTestDatabase, type TestDatabase } from '../support/mysql';
import { deleteBucket, s3AdminClient, startS3Server, type S3TestServer } from '../support/s3';

/**
 * The crash test at full size: 30 uploads of 34 MiB (1 GiB in all; GLINT_SOAK_CRASH_MIB per
 * upload to change it), 5 finished and 25 half-sent when primary and both workers get SIGKILL,
 * then a restart. Prints its figures: images stuck in saving, orphan objects and temporaries,
 * descriptor delta after cut transfers, recovery time.
 */
const MiB = 1024 * 1024;
const SIZE = Number(process.env.GLINT_SOAK_CRASH_MIB ?? 34) * MiB;

function report(name: string, figures: CrashFigures): void {
  console.log(
    `      ${name}: ${figures.savingAfterKill} saving and ${figures.leftoversAfterKill} leftovers after the kill; after recovery (${figures.recoveryMs} ms): ` +
      `stuck ${figures.stuck}, orphans ${figures.orphans}, corrupt ${figures.corrupt}, active ${figures.active}, queued ${figures.queued}, fd delta ${figures.fdDelta}`,
  );
}

function assertRecovered(figures: CrashFigures): void {
  assert.ok(figures.savingAfterKill > 0, 'the kill left uploads in saving');
  assert.equal(figures.stuck, 0);
  assert.equal(figures.orphans, 0);
  assert.equal(figures.corrupt, 0);
  assert.equal(figures.active + figures.queued, 30);
  assert.ok(figures.fdDelta <= 0, `fd delta ${figures.fdDelta}`);
}

describe('soak: SIGKILL of primary and workers during 30 uploads of 1 GiB in all, then a restart', function () {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'glint-crash-soak-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const scenario = (store: CrashScenario['store'], database: string): CrashScenario => ({
    dir,
    database,
    store,
    finished: 5,
    inFlight: 25,
    size: SIZE,
    sentBeforeKill: Math.floor(SIZE / 2),
    leaseSeconds: 3,
    stageTimeoutMs: 600_000,
  });

  it('SQLite and a filesystem store', async function () {
    const figures = await runCrashScenario(scenario({ type: 'file' }, 'sqlite'), (line) => console.log(`      ${line}`));
    report('SQLite + filesystem', figures);
    assertRecovered(figures);
  });

  describe('MariaDB and S3 (s3rver)', function () {
    let database: TestDatabase;
    let server: S3TestServer;
    const bucket = `glint-crash-soak-${randomBytes(3).toString('hex')}`;
    before(async function () {
      database = await createTestDatabase();
      server = await startS3Server();
    });
    after(async function () {
      if (server) {
        const admin = s3AdminClient(server);
        await deleteBucket(admin, bucket).catch(() => undefined);
        admin.destroy();
        await server.stop();
      }
      await database?.drop();
    });

    it('MariaDB and S3', async function () {
      const figures = await runCrashScenario(scenario({ type: 's3', server, bucket }, database.config.url), (line) => console.log(`      ${line}`));
      report('MariaDB + S3', figures);
      assertRecovered(figures);
    });
  });
});
