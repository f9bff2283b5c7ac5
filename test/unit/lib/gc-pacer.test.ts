import { strict as assert } from 'node:assert';
import { INTERVAL_BYTES, noteStreamedBytes } from '../../../src/lib/gc-pacer';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('gc pacer', function () {
  it('frees the chunks a stream passed on after every interval, so few dead ones pile up', function () {
    // 128 MiB of 64 KiB chunks, each dropped once passed on; left to V8, dead buffers reach 32 MB
    // and more before a collection
    const start = process.memoryUsage().arrayBuffers;
    let peak = 0;
    for (let i = 0; i < 2048; i++) {
      const chunk = Buffer.allocUnsafeSlow(64 * KiB);
      chunk[0] = i;
      noteStreamedBytes(chunk.length);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - start);
    }
    assert.ok(peak < INTERVAL_BYTES + 8 * MiB, `dead chunks peaked at ${(peak / MiB).toFixed(1)} MiB`);
  });
});
