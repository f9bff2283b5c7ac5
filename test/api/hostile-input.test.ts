import assert from 'node:assert/strict';
import * as path from 'node:path';
import { escapedMarkers, filesOutside, fuzz, fuzzSeed, sendRaw, startFuzzTarget, type FuzzTarget } from '../support/fuzz';

/**
 * Hostile input, the quick version (the ≥ 10,000-request run is test/soak/fuzz.soak.ts): seeded
 * generated malformed requests across every route of every surface never get a 5xx, write
 * nothing outside the store root, and leave a server that still answers.
 */
describe('Hostile input: fuzzed requests on every surface', function () {
  let target: FuzzTarget;
  before(async function () {
    target = await startFuzzTarget();
  });
  after(async function () {
    await target?.close();
  });

  it('deeply nested JSON (20,000 levels) in POST /v2/images and PATCH → 400, not 500', async function () {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const admin: Array<[string, string]> = [['X-Identity-Status', 'Confirmed'], ['X-Project-Id', 'p1'], ['X-Roles', 'admin'], ['X-User-Id', 'u1']];
    const create = { method: 'POST', target: '/v2/images', headers: [...admin, ['Content-Type', 'application/json']] as Array<[string, string]>, body: Buffer.from(`{"name":${deep}}`), chunked: false };
    assert.equal(await sendRaw(target.port, create), 400);
    const patch = {
      method: 'PATCH',
      target: `/v2/images/${target.imageIds[0]}`,
      headers: [...admin, ['Content-Type', 'application/openstack-images-v2.1-json-patch']] as Array<[string, string]>,
      body: Buffer.from(`[{"op":"add","path":"/x","value":${deep}}]`),
      chunked: false,
    };
    assert.equal(await sendRaw(target.port, patch), 400);
  });

  it('500 generated requests: no 5xx, no file outside the store root, the server still answers', async function () {
    this.timeout(120_000);
    const seed = fuzzSeed();
    const report = await fuzz(target, { runs: 500, seed });
    console.log(`      fuzz seed ${seed}: ${report.runs} requests in ${report.millis} ms, statuses ${JSON.stringify(report.statuses)}`);
    assert.deepEqual(report.serverErrors, [], `5xx or no answer (replay: GLINT_FUZZ_SEED=${seed})`);
    const allowed = [target.storeRoot, path.join(target.app.dir, 'glint.conf')];
    assert.deepEqual(filesOutside(target.app.dir, allowed), [], 'files outside the store root');
    assert.deepEqual(escapedMarkers(target), [], 'a ../ name reached the disk');
    assert.equal((await target.app.http.get('/healthcheck')).status, 200);
    const list = await target.app.http.get('/v2/images').set({ 'X-Identity-Status': 'Confirmed', 'X-Project-Id': 'p1', 'X-Roles': 'admin', 'X-User-Id': 'u1' });
    assert.equal(list.status, 200);
  });
});
