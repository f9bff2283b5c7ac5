import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createThreadedContentHasher, runningHashWorkers } from '../../../src/lib/threaded-hasher';

const MiB = 1024 * 1024;

async function hashInChunks(data: Buffer, chunkSize: number) {
  const hasher = createThreadedContentHasher();
  let waited = 0;
  for (let offset = 0; offset < data.length; offset += chunkSize) {
    const pending = hasher.update(data.subarray(offset, offset + chunkSize));
    if (pending) {
      waited++;
      await pending;
    }
  }
  return { digests: await hasher.digest(), waited };
}

const expected = (data: Buffer) => ({
  md5: createHash('md5').update(data).digest('hex'),
  sha512: createHash('sha512').update(data).digest('hex'),
});

describe('threaded content hasher', function () {
  this.timeout(60_000);

  for (const size of [0, 1, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 3 * MiB + 12345 + 8 * MiB]) {
    it(`gives the md5 and sha512 of node's crypto for ${size} bytes fed in uneven chunks`, async () => {
      const data = randomBytes(size);
      const { digests } = await hashInChunks(data, 65_537);
      assert.deepEqual(digests, expected(data));
    });
  }

  it('makes a fast producer wait instead of queueing unbounded data for the workers', async () => {
    const data = randomBytes(64 * MiB);
    const { digests, waited } = await hashInChunks(data, 4 * MiB);
    assert.deepEqual(digests, expected(data));
    assert.ok(waited > 0, 'update returned a promise at least once');
  });

  it('keeps concurrent inputs apart', async () => {
    const inputs = [randomBytes(9 * MiB), randomBytes(6 * MiB + 3), randomBytes(12 * MiB)];
    const results = await Promise.all(inputs.map((d) => hashInChunks(d, 100_000)));
    results.forEach((r, i) => assert.deepEqual(r.digests, expected(inputs[i])));
  });

  it('can be abandoned half way without hanging later inputs', async () => {
    const abandoned = createThreadedContentHasher();
    await abandoned.update(randomBytes(8 * MiB));
    abandoned.destroy();
    const data = randomBytes(5 * MiB);
    assert.deepEqual((await hashInChunks(data, 1 * MiB)).digests, expected(data));
  });

  it('runs its workers only while an input needs them', async () => {
    await nextTurn();
    assert.equal(runningHashWorkers(), 0, 'no worker before a large input');
    const small = randomBytes(4 * MiB - 1);
    assert.deepEqual((await hashInChunks(small, 65_536)).digests, expected(small));
    assert.equal(runningHashWorkers(), 0, 'inputs below the inline limit start none');

    const hasher = createThreadedContentHasher();
    const data = randomBytes(6 * MiB);
    await hasher.update(data.subarray(0, 5 * MiB));
    assert.equal(runningHashWorkers(), 2, 'both workers while hashing');
    await hasher.update(data.subarray(5 * MiB));
    assert.deepEqual(await hasher.digest(), expected(data));
    await nextTurn();
    await nextTurn();
    assert.equal(runningHashWorkers(), 0, 'stopped once no input is left');

    // and started again for the next one, abandoned or not
    const abandoned = createThreadedContentHasher();
    await abandoned.update(randomBytes(5 * MiB));
    assert.equal(runningHashWorkers(), 2);
    abandoned.destroy();
    await nextTurn();
    await nextTurn();
    assert.equal(runningHashWorkers(), 0);
    const again = randomBytes(5 * MiB + 3);
    assert.deepEqual((await hashInChunks(again, 1 * MiB)).digests, expected(again));
  });

  it('keeps the workers for an input that starts while another finishes', async () => {
    const first = createThreadedContentHasher();
    const a = randomBytes(5 * MiB);
    await first.update(a);
    const second = createThreadedContentHasher();
    const b = randomBytes(5 * MiB);
    await second.update(b);
    assert.deepEqual(await first.digest(), expected(a));
    await nextTurn();
    await nextTurn();
    assert.equal(runningHashWorkers(), 2, 'the second input still needs them');
    assert.deepEqual(await second.digest(), expected(b));
  });

  it('gives right digests when many inputs in a row reuse the slot sets', async () => {
    for (let i = 0; i < 6; i++) {
      const data = randomBytes(4 * MiB + 1000 * i);
      const hasher = createThreadedContentHasher();
      if (i % 2 === 1) {
        // an abandoned input in between: its set goes back while a worker may still read it
        const dropped = createThreadedContentHasher();
        await dropped.update(randomBytes(6 * MiB));
        dropped.destroy();
      }
      for (let offset = 0; offset < data.length; offset += 300_000) await hasher.update(data.subarray(offset, offset + 300_000));
      assert.deepEqual(await hasher.digest(), expected(data));
    }
  });

  it('keeps a process alive while hashing and lets it exit once done', async () => {
    const script = `const { createThreadedContentHasher } = require(${JSON.stringify(path.resolve(__dirname, '../../../src/lib/threaded-hasher'))});
      (async () => { const h = createThreadedContentHasher(); await h.update(Buffer.alloc(5 * 1024 * 1024)); console.log((await h.digest()).md5); })();`;
    const output = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    assert.equal(output.trim(), createHash('md5').update(Buffer.alloc(5 * 1024 * 1024)).digest('hex'));
  });
});
