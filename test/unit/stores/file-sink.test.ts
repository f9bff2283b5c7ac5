import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { isStoreError, StoreError } from '../../../src/stores/blob-store';
import { FileSink, type FileSinkLimits, type FileSinkTarget } from '../../../src/stores/file-sink';
import { filesystemError } from '../../../src/stores/filesystem-errors';

const KiB = 1024;
/** fdatasyncs running across every FakeFile. */
let syncsRunning = 0;
let maxSyncsRunning = 0;

/** A file in memory that records how the sink used it. */
class FakeFile implements FileSinkTarget {
  readonly content: Buffer;
  readonly writes: { position: number; bytes: number; buffers: number }[] = [];
  readonly events: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  /** Written so far (for `datasync` order checks). */
  written = 0;
  /** Fail the write with this index (0-based) instead of performing it. */
  failWrite: number | undefined;
  failDatasync = false;
  /** Error codes of the failures above. */
  writeErrorCode = 'ENOSPC';
  datasyncErrorCode = 'EIO';
  /** Fail the final fsync with this code. */
  failSync: string | undefined;
  /** Write at most this many bytes per call. */
  shortWrites: number | undefined;
  /** Turns to wait before a write completes. */
  delayTurns = 1;
  datasyncTurns = 1;

  constructor(size: number) {
    this.content = Buffer.alloc(size);
  }

  async writev<TBuffers extends readonly NodeJS.ArrayBufferView[]>(buffers: TBuffers, position?: number | null): Promise<{ bytesWritten: number; buffers: TBuffers }> {
    assert.equal(typeof position, 'number', 'writes must be positional');
    const index = this.writes.length;
    const total = buffers.reduce((sum, b) => sum + b.byteLength, 0);
    this.writes.push({ position: position as number, bytes: total, buffers: buffers.length });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      for (let i = 0; i < this.delayTurns; i++) await nextTurn();
      if (index === this.failWrite) throw errno(this.writeErrorCode);
      const limit = Math.min(total, this.shortWrites ?? total);
      let offset = position as number;
      let left = limit;
      for (const b of buffers) {
        if (left === 0) break;
        const view = Buffer.from(b.buffer, b.byteOffset, Math.min(b.byteLength, left));
        view.copy(this.content, offset);
        offset += view.length;
        left -= view.length;
      }
      this.written += limit;
      this.events.push(`write ${limit}`);
      return { bytesWritten: limit, buffers };
    } finally {
      this.inFlight--;
    }
  }

  async datasync(): Promise<void> {
    syncsRunning++;
    maxSyncsRunning = Math.max(maxSyncsRunning, syncsRunning);
    for (let i = 0; i < this.datasyncTurns; i++) await nextTurn();
    syncsRunning--;
    this.events.push(`datasync after ${this.written}`);
    if (this.failDatasync) throw errno(this.datasyncErrorCode);
  }

  async sync(): Promise<void> {
    assert.equal(this.inFlight, 0, 'sync while writes are in flight');
    this.events.push(`sync after ${this.written}`);
    if (this.failSync !== undefined) throw errno(this.failSync);
  }
}

const ERRNO_MESSAGES: Record<string, string> = { ENOSPC: 'no space left on device', EDQUOT: 'disk quota exceeded', EIO: 'i/o error' };

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${ERRNO_MESSAGES[code] ?? 'failed'}`), { code });
}

const mapError = (err: unknown): StoreError =>
  err instanceof StoreError ? err : new StoreError('unavailable', `mapped: ${String(err)}`, 'fake', { cause: err });

function sinkFor(file: FakeFile, limits: Partial<FileSinkLimits>): FileSink {
  return new FileSink(file, mapError, limits);
}

function chunked(data: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += size) chunks.push(data.subarray(offset, offset + size));
  return Readable.from(chunks);
}

const small: Partial<FileSinkLimits> = { batchBytes: 16 * KiB, maxWritesInFlight: 2, maxHeldBytes: 64 * KiB, syncIntervalBytes: 0 };

describe('FileSink', function () {
  it('writes every byte in place, in batches of at least batchBytes, then syncs once', async function () {
    const data = randomBytes(100 * KiB + 123);
    const file = new FakeFile(data.length);
    await pipeline(chunked(data, 1000), sinkFor(file, small));
    assert.ok(file.content.equals(data));
    const last = file.writes.length - 1;
    file.writes.forEach((w, i) => {
      if (i < last) assert.ok(w.bytes >= 16 * KiB, `write ${i} has only ${w.bytes} bytes`);
    });
    assert.ok(file.writes.length <= Math.ceil(data.length / (16 * KiB)), `${file.writes.length} writes`);
    assert.deepEqual(file.events.filter((e) => !e.startsWith('write')), [`sync after ${data.length}`]);
    assert.equal(file.events.at(-1), `sync after ${data.length}`);
  });

  it('keeps up to maxWritesInFlight writes running and no more', async function () {
    const data = randomBytes(200 * KiB);
    const file = new FakeFile(data.length);
    file.delayTurns = 5;
    await pipeline(chunked(data, 4 * KiB), sinkFor(file, { ...small, maxWritesInFlight: 3, maxHeldBytes: 128 * KiB }));
    assert.ok(file.content.equals(data));
    assert.equal(file.maxInFlight, 3);
  });

  it('holds back the source once maxHeldBytes are not yet written', async function () {
    const file = new FakeFile(10 * 1024 * KiB);
    file.delayTurns = 20;
    let pulled = 0;
    let maxAhead = 0;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 640; i++) {
          pulled += 16 * KiB;
          maxAhead = Math.max(maxAhead, pulled - file.written);
          yield Buffer.alloc(16 * KiB, i);
        }
      })(),
    );
    await pipeline(source, sinkFor(file, { ...small, maxHeldBytes: 64 * KiB }));
    assert.equal(file.written, 640 * 16 * KiB);
    // what the sink holds, plus what the streams in between buffer (16 KiB high-water marks)
    assert.ok(maxAhead <= 64 * KiB + 64 * KiB, `source ran ${maxAhead} bytes ahead of the file`);
  });

  it('resumes after short writes', async function () {
    const data = randomBytes(50 * KiB + 5);
    const file = new FakeFile(data.length);
    file.shortWrites = 3000;
    await pipeline(chunked(data, 7000), sinkFor(file, small));
    assert.ok(file.content.equals(data));
  });

  it('runs fdatasync every syncIntervalBytes beside the writes, never during the final sync', async function () {
    const data = randomBytes(256 * KiB);
    const file = new FakeFile(data.length);
    await pipeline(chunked(data, 8 * KiB), sinkFor(file, { ...small, syncIntervalBytes: 64 * KiB }));
    assert.ok(file.content.equals(data));
    const datasyncs = file.events.filter((e) => e.startsWith('datasync'));
    assert.ok(datasyncs.length >= 2 && datasyncs.length <= 4, `datasyncs: ${datasyncs.join(', ')}`);
    assert.equal(file.events.at(-1), `sync after ${data.length}`);
  });

  it('runs one periodic fdatasync at a time across all sinks in the process', async function () {
    maxSyncsRunning = 0;
    const files = [0, 1, 2].map(() => new FakeFile(1024 * KiB));
    for (const file of files) file.datasyncTurns = 5;
    const data = randomBytes(1024 * KiB);
    await Promise.all(files.map((file) => pipeline(chunked(data, 8 * KiB), sinkFor(file, { ...small, syncIntervalBytes: 32 * KiB }))));
    for (const file of files) assert.ok(file.content.equals(data));
    assert.equal(maxSyncsRunning, 1);
    assert.ok(files.flatMap((f) => f.events).filter((e) => e.startsWith('datasync')).length >= 2);
  });

  it('fails with the mapped error of a write in the middle of a batch run, starts nothing after it, and settles', async function () {
    const data = randomBytes(200 * KiB);
    const file = new FakeFile(data.length);
    file.failWrite = 2;
    file.delayTurns = 3;
    const sink = sinkFor(file, small);
    await assert.rejects(pipeline(chunked(data, 4 * KiB), sink), (err) => isStoreError(err, 'unavailable') && /ENOSPC/.test(err.message));
    await sink.settled();
    assert.equal(file.inFlight, 0);
    // the write running beside the failed one may finish; none starts after the failure
    assert.ok(file.writes.length <= 2 + small.maxWritesInFlight!, `${file.writes.length} writes started`);
    assert.ok(!file.events.some((e) => e.startsWith('sync')), 'synced a failed file');
  });

  it('fails when the last batch fails, without the final sync', async function () {
    const data = randomBytes(20 * KiB);
    const file = new FakeFile(data.length);
    file.failWrite = 1;
    await assert.rejects(pipeline(chunked(data, 4 * KiB), sinkFor(file, small)), (err) => isStoreError(err, 'unavailable'));
    assert.ok(!file.events.some((e) => e.startsWith('sync')));
  });

  it('fails when a periodic fdatasync fails', async function () {
    const data = randomBytes(256 * KiB);
    const file = new FakeFile(data.length);
    file.failDatasync = true;
    const sink = sinkFor(file, { ...small, syncIntervalBytes: 32 * KiB });
    await assert.rejects(pipeline(chunked(data, 4 * KiB), sink), (err) => isStoreError(err, 'unavailable') && /EIO/.test(err.message));
    await sink.settled();
    assert.ok(!file.events.some((e) => e.startsWith('sync')));
  });

  it("fails with storage_full, through the filesystem store's mapping, when writev, fdatasync or the final fsync finds the disk or quota full", async function () {
    const storeMapping = (err: unknown) => filesystemError(err, { storeId: 'fs', dataDir: '/data', operation: 'put', key: 'k' });
    const failures: Array<[string, (file: FakeFile) => void, Partial<FileSinkLimits>]> = [
      ['writev ENOSPC', (file) => (file.failWrite = 2), small],
      ['writev EDQUOT', (file) => Object.assign(file, { failWrite: 0, writeErrorCode: 'EDQUOT' }), small],
      ['fdatasync ENOSPC', (file) => Object.assign(file, { failDatasync: true, datasyncErrorCode: 'ENOSPC' }), { ...small, syncIntervalBytes: 32 * KiB }],
      ['fsync EDQUOT', (file) => (file.failSync = 'EDQUOT'), small],
    ];
    for (const [name, fail, limits] of failures) {
      const file = new FakeFile(256 * KiB);
      fail(file);
      const sink = new FileSink(file, storeMapping, limits);
      await assert.rejects(pipeline(chunked(randomBytes(256 * KiB), 4 * KiB), sink), (err) => {
        assert.ok(isStoreError(err, 'storage_full'), `${name}: ${String(err)}`);
        assert.match(err.message, /no space left on the storage \((ENOSPC|EDQUOT)\)/, name);
        return true;
      });
      await sink.settled();
      assert.equal(file.inFlight, 0, name);
    }
  });

  it('stops writing when the source fails and settles its running writes', async function () {
    const file = new FakeFile(1024 * KiB);
    file.delayTurns = 10;
    const failure = new Error('source broke');
    const source = Readable.from(
      (async function* () {
        for (let i = 0; i < 10; i++) yield Buffer.alloc(10 * KiB, i);
        throw failure;
      })(),
    );
    const sink = sinkFor(file, small);
    await assert.rejects(pipeline(source, sink), (err) => err === failure);
    await sink.settled();
    assert.equal(file.inFlight, 0);
    assert.ok(!file.events.some((e) => e.startsWith('sync')));
  });

  it('writes nothing for an empty stream but still syncs', async function () {
    const file = new FakeFile(0);
    await pipeline(Readable.from([]), sinkFor(file, small));
    assert.deepEqual(file.writes, []);
    assert.deepEqual(file.events, ['sync after 0']);
  });
});
