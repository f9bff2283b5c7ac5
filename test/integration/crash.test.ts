import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runCrashScenario, type CrashFigures } from '../support/crash';
import { createTestDatabase, type TestDatabase } from '../support/mysql';
import { deleteBucket, s3AdminClient, startS3Server, type S3TestServer } from '../support/s3';

const KiB = 1024;
/** GLINT_TEST_VERBOSE=1 prints what each scenario measured. */
const log = process.env.GLINT_TEST_VERBOSE ? (line: string) => console.log(`      ${line}`) : () => undefined;
const MiB = 1024 * KiB;

/**
 * Issue 16, "Crash": SIGKILL of the whole server (primary and two workers) during 30 uploads, then
 * a restart with a 1 s write lease, reconcile interval and grace period. Checked: the kill left
 * images in saving (what the test is about), and after the restart none is, no store holds an
 * object or temporary that no active image owns, every active image's data is what was sent and
 * matches its checksum, every recovered image takes its upload again, and cut transfers leave the
 * server's descriptor count where it was.
 */
describe('crash: SIGKILL of primary and workers during 30 uploads, then a restart', function () {
  this.timeout(180_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'glint-crash-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function assertRecovered(figures: CrashFigures, total: number): void {
    assert.ok(figures.savingAfterKill > 0, 'the kill left uploads in saving');
    assert.equal(figures.stuck, 0, 'images still in saving after the lease window');
    assert.equal(figures.orphans, 0, 'objects or temporaries no image owns');
    assert.equal(figures.corrupt, 0, 'active images whose data differs from what was sent');
    assert.equal(figures.active + figures.queued, total);
    assert.ok(figures.fdDelta <= 0, `the server holds ${figures.fdDelta} more descriptors after cut transfers`);
  }

  it('SQLite and a filesystem store: nothing stuck, nothing orphaned, every active image intact', async function () {
    const figures = await runCrashScenario({ dir, database: 'sqlite', store: { type: 'file' }, finished: 5, inFlight: 25, size: 256 * KiB, sentBeforeKill: 96 * KiB }, log);
    log(JSON.stringify(figures));
    assert.ok(figures.leftoversAfterKill > 0, 'the kill left temp files');
    assertRecovered(figures, 30);
  });

  describe('MariaDB and S3 (s3rver)', function () {
    let database: TestDatabase;
    let server: S3TestServer;
    const bucket = `glint-crash-${randomBytes(3).toString('hex')}`;
    before(async function () {
      this.timeout(60_000);
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

    it('nothing stuck, no object or multipart upload orphaned, every active image intact', async function () {
      // 8 of the in-flight uploads are past one 5 MiB part: each has a multipart upload open when the server dies
      const figures = await runCrashScenario({
        dir,
        database: database.config.url,
        store: { type: 's3', server, bucket },
        finished: 5,
        inFlight: 25,
        size: 6 * MiB,
        sentBeforeKill: 5 * MiB + 512 * KiB,
        small: { count: 17, size: 256 * KiB, sentBeforeKill: 96 * KiB },
        // 25 uploads through s3rver in this process keep two cores busy: renewals need more slack
        leaseSeconds: 3,
      }, log);
      log(JSON.stringify(figures));
      assert.ok(figures.leftoversAfterKill > 0, 'the kill left multipart uploads');
      assertRecovered(figures, 30);
    });
  });
});
