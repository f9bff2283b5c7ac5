import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { ContentHasher } from '../../../src/lib/content-hasher';
import { createThreadedContentHasher } from '../../../src/lib/threaded-hasher';
import { MeasureStream, pipeMeasured } from '../../../src/stores/measure';
import { isStoreError } from '../../../src/stores/blob-store';

function sink(): Writable & { received: Buffer[] } {
  const received: Buffer[] = [];
  return Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(chunk);
        callback();
      },
    }),
    { received },
  );
}

function chunks(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += size) out.push(data.subarray(offset, offset + size));
  return out;
}

describe('measure', function () {
  it('hashes in one pass with a hasher whose update is asynchronous, in order', async function () {
    const data = randomBytes(300_000);
    const inner = createThreadedContentHasher();
    let destroyed = 0;
    // stands in for a hasher that hands chunks to worker threads
    const slow: ContentHasher = {
      async update(chunk) {
        await delay(1);
        inner.update(chunk);
      },
      digest: () => inner.digest(),
      destroy: () => {
        destroyed++;
      },
    };
    const out = sink();
    const result = await pipeMeasured(Readable.from(chunks(data, 7000)), out, { storeId: 't', hasher: slow });
    assert.deepEqual(result, {
      size: data.length,
      md5: createHash('md5').update(data).digest('hex'),
      sha512: createHash('sha512').update(data).digest('hex'),
    });
    assert.ok(Buffer.concat(out.received).equals(data));
    assert.equal(destroyed, 1);
  });

  it('passes on nothing of the chunk that crosses a limit', async function () {
    const out = sink();
    await assert.rejects(
      pipeMeasured(Readable.from([Buffer.alloc(6), Buffer.alloc(6)]), out, { storeId: 't', maxSize: 10 }),
      (err) => isStoreError(err, 'too_large') && err.storeId === 't',
    );
    assert.equal(Buffer.concat(out.received).length, 6);
  });

  it('reports the lower of expectedSize and maxSize when one chunk crosses both', async function () {
    await assert.rejects(
      pipeMeasured(Readable.from([Buffer.alloc(20)]), sink(), { storeId: 't', expectedSize: 10, maxSize: 15 }),
      (err) => isStoreError(err, 'size_mismatch'),
    );
    await assert.rejects(
      pipeMeasured(Readable.from([Buffer.alloc(20)]), sink(), { storeId: 't', expectedSize: 18, maxSize: 15 }),
      (err) => isStoreError(err, 'too_large'),
    );
    await assert.rejects(
      pipeMeasured(Readable.from([Buffer.alloc(20)]), sink(), { storeId: 't', expectedSize: 15, maxSize: 15 }),
      (err) => isStoreError(err, 'size_mismatch'),
    );
  });

  it('has no result before the stream ends', function () {
    const measure = new MeasureStream({ storeId: 't' });
    assert.throws(() => measure.result(), (err) => isStoreError(err, 'unavailable'));
    measure.destroy();
  });

  it('rejects with the consumer’s own error and waits for it to settle', async function () {
    const failure = new Error('backend down');
    let settled = false;
    await assert.rejects(
      pipeMeasured(Readable.from([Buffer.alloc(10), Buffer.alloc(10)]), async (body) => {
        for await (const _chunk of body) break; // gives up: destroys the body without an error
        await delay(20);
        settled = true;
        throw failure;
      }, { storeId: 't' }),
      (err) => err === failure,
    );
    assert.equal(settled, true);
  });

  it('rejects with the source’s error even when the consumer relays another', async function () {
    const failure = new Error('source broke');
    const source = Readable.from(
      (async function* () {
        yield Buffer.alloc(10);
        throw failure;
      })(),
    );
    await assert.rejects(
      pipeMeasured(source, async (body) => {
        for await (const _chunk of body) {
          // read until the body fails
        }
      }, { storeId: 't' }),
      (err) => err === failure,
    );
  });
});
