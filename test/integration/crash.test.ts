import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { assertRecovered, runCrashScenario, useMariaDbAndS3 } from '../support/crash';

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

  it('SQLite and a filesystem store: nothing stuck, nothing orphaned, every active image intact', async function () {
    const figures = await runCrashScenario({ dir, database: 'sqlite', store: { type: 'file' }, finished: 5, inFlight: 25, size: 256 * KiB, sentBeforeKill: 96 * KiB }, log);
    log(JSON.stringify(figures));
    assert.ok(figures.leftoversAfterKill > 0, 'the kill left temp files');
    assertRecovered(figures, 30);
  });

  describe('MariaDB and S3 (s3rver)', function () {
    const mariaDbAndS3 = useMariaDbAndS3('glint-crash');

    it('nothing stuck, no object or multipart upload orphaned, every active image intact', async function () {
      // 8 of the in-flight uploads are past one 5 MiB part: each has a multipart upload open when the server dies
      const { database, server, bucket } = mariaDbAndS3;
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
