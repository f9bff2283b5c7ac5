import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { assertRecovered, runCrashScenario, useMariaDbAndS3, type CrashFigures, type CrashScenario } from '../support/crash';

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
    assertRecovered(figures, 30);
  });

  describe('MariaDB and S3 (s3rver)', function () {
    const mariaDbAndS3 = useMariaDbAndS3('glint-crash-soak');

    it('MariaDB and S3', async function () {
      const { database, server, bucket } = mariaDbAndS3;
      const figures = await runCrashScenario(scenario({ type: 's3', server, bucket }, database.config.url), (line) => console.log(`      ${line}`));
      report('MariaDB + S3', figures);
      assertRecovered(figures, 30);
    });
  });
});
