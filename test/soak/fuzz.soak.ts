import assert from 'node:assert/strict';
import * as path from 'node:path';
import { escapedMarkers, filesOutside, fuzz, fuzzSeed, startFuzzTarget, type FuzzTarget } from '../support/fuzz';

/**
 * Hostile input, the long version: GLINT_FUZZ_RUNS (default 10,000) generated malformed requests
 * across every route of every surface. No 5xx, nothing written outside the store root, and the
 * server answers afterwards. The seed is printed; GLINT_FUZZ_SEED=<seed> replays the same run.
 */
describe('Soak: 10,000 fuzzed requests', function () {
  let target: FuzzTarget;
  before(async function () {
    target = await startFuzzTarget();
  });
  after(async function () {
    await target?.close();
  });

  it('no 5xx, no file outside the store root, the server still answers', async function () {
    const runs = Number(process.env.GLINT_FUZZ_RUNS ?? 10_000);
    const seed = fuzzSeed();
    const report = await fuzz(target, { runs, seed });
    console.log(`      fuzz seed ${seed}: ${report.runs} requests in ${report.millis} ms, ${report.serverErrors.length} 5xx/no answer, statuses ${JSON.stringify(report.statuses)}`);
    for (const e of report.serverErrors.slice(0, 20)) console.log(`      ${e.status} ← ${e.request}`);
    assert.deepEqual(report.serverErrors, [], `5xx or no answer (replay: GLINT_FUZZ_SEED=${seed})`);
    assert.deepEqual(filesOutside(target.app.dir, [target.storeRoot, path.join(target.app.dir, 'glint.conf')]), []);
    assert.deepEqual(escapedMarkers(target), []);
    assert.equal((await target.app.http.get('/healthcheck')).status, 200);
  });
});
