import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readlink, rename, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { isSelfWriting } from '../../../src/lib/self-writing-body';
import { isStoreError } from '../../../src/stores/blob-store';
import { DESCRIPTOR_REVALIDATE_MS } from '../../../src/stores/descriptor-cache';
import { FilesystemStore, MIN_STREAM_CHUNK_BYTES, SMALL_READ_BYTES } from '../../../src/stores/filesystem';
import { WRITE_TO_BUFFERS } from '../../../src/stores/filesystem-reads';

const MiB = 1024 * 1024;

/** A destination done with each chunk when it calls back (as a socket is), slow on purpose. */
class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  constructor(private readonly delayMs = 0) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.delayMs > 0) setTimeout(callback, this.delayMs);
    else setImmediate(callback);
  }
  get data(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/**
 * Descriptors this process holds on files under `dir` (all of them without `dir`). Counting only the
 * store's own files keeps the count free of whatever else the test process opens meanwhile.
 */
async function openDescriptors(dir?: string): Promise<number> {
  const fds = await readdir('/proc/self/fd');
  if (dir === undefined) return fds.length;
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return targets.filter((target) => target.startsWith(dir + '/')).length;
}

async function settleDescriptors(dir: string, expected: number): Promise<number> {
  for (let i = 0; i < 50 && (await openDescriptors(dir)) > expected; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return openDescriptors(dir);
}

describe('FilesystemStore reads: in-memory small reads and writeTo', function () {
  let dataDir: string;
  let store: FilesystemStore;
  const data = randomBytes((WRITE_TO_BUFFERS + 3) * MIN_STREAM_CHUNK_BYTES + 12345);

  before(async function () {
    if (!(await openDescriptors().catch(() => 0))) this.skip();
    dataDir = await mkdtemp(join(tmpdir(), 'glint-fs-reads-'));
    store = new FilesystemStore({ id: 'file', type: 'file', description: null, dataDir, chunkSize: 64 * 1024 });
    await store.put('blob', Readable.from([data]));
  });
  after(async function () {
    await store?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('hands small reads over as bytes, the stream made only when asked for', async function () {
    const read = await store.get('blob', { start: 10, end: 10 + SMALL_READ_BYTES - 1 });
    const bytes = read.bytes;
    assert.ok(bytes);
    assert.ok(bytes.equals(data.subarray(10, 10 + SMALL_READ_BYTES)));
    assert.equal(read.length, SMALL_READ_BYTES);
    assert.equal(read.totalSize, data.length);
    const chunks: Buffer[] = [];
    for await (const chunk of read.body) chunks.push(chunk as Buffer);
    assert.equal(chunks.length, 1);
    assert.ok(chunks[0].equals(bytes));
    const large = await store.get('blob', { start: 0, end: SMALL_READ_BYTES });
    assert.equal(large.bytes, undefined);
    large.body.destroy();
  });

  it('writeTo sends a whole object through reused buffers, slow destination, and closes the descriptor', async function () {
    const before = await openDescriptors(dataDir);
    const read = await store.get('blob');
    assert.ok(isSelfWriting(read.body));
    const out = new Collector(2);
    await read.body.writeTo(out);
    assert.ok(out.writableFinished);
    assert.equal(out.data.length, data.length);
    assert.ok(out.data.equals(data), 'content differs');
    assert.equal(out.chunks[0].length, MIN_STREAM_CHUNK_BYTES);
    assert.equal(await settleDescriptors(dataDir, before), before);
  });

  it('writeTo sends a range with a partial last chunk', async function () {
    const start = MIN_STREAM_CHUNK_BYTES - 7;
    const end = 3 * MIN_STREAM_CHUNK_BYTES + 99;
    const read = await store.get('blob', { start, end });
    assert.ok(isSelfWriting(read.body));
    const out = new Collector();
    await read.body.writeTo(out);
    assert.ok(out.data.equals(data.subarray(start, end + 1)));
  });

  it('writeTo rejects with a premature close when the destination goes away, and closes the descriptor', async function () {
    const before = await openDescriptors(dataDir);
    const read = await store.get('blob');
    assert.ok(isSelfWriting(read.body));
    const out = new Collector(5);
    const sending = read.body.writeTo(out);
    setTimeout(() => out.destroy(), 8);
    await assert.rejects(sending, (err: unknown) => (err as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE');
    assert.ok(read.body.destroyed);
    assert.equal(await settleDescriptors(dataDir, before), before);
  });

  it('writeTo fails and destroys the destination when the file ends early', async function () {
    await store.put('shrinking', Readable.from([data]));
    const before = await openDescriptors(dataDir);
    const read = await store.get('shrinking');
    await truncate(join(dataDir, 'shrinking'), 2 * MiB);
    assert.ok(isSelfWriting(read.body));
    const out = new Collector();
    out.on('error', () => undefined);
    await assert.rejects(read.body.writeTo(out), /truncated while read/);
    assert.ok(out.destroyed);
    assert.equal(await settleDescriptors(dataDir, before), before);
  });

  describe('descriptor cache of small range reads', function () {
    const small = async (target: FilesystemStore, key: string, start: number, end: number): Promise<Buffer> => {
      const read = await target.get(key, { start, end });
      assert.ok(read.bytes);
      return read.bytes;
    };

    it('keeps one descriptor open per file read by small ranges, and closes them with the store', async function () {
      const own = new FilesystemStore({ id: 'own', type: 'file', description: null, dataDir, chunkSize: 64 * 1024 });
      const before = await openDescriptors(dataDir);
      for (let i = 0; i < 20; i++) assert.ok((await small(own, 'blob', i * 4096, i * 4096 + 4095)).equals(data.subarray(i * 4096, i * 4096 + 4096)));
      assert.equal(await openDescriptors(dataDir), before + 1);
      await own.close();
      assert.equal(await settleDescriptors(dataDir, before), before);
    });

    it('sees an object replaced through the store at once', async function () {
      const first = Buffer.alloc(100, 1);
      const second = Buffer.alloc(100, 2);
      await store.put('replaced', Readable.from([first]));
      assert.ok((await small(store, 'replaced', 0, 9)).equals(first.subarray(0, 10)));
      await store.put('replaced', Readable.from([second]));
      assert.ok((await small(store, 'replaced', 0, 9)).equals(second.subarray(0, 10)));
    });

    it('sees an object replaced or removed by another process once the revalidation interval has passed', async function () {
      this.timeout(10_000);
      const first = Buffer.alloc(100, 1);
      const third = Buffer.alloc(50, 3);
      await store.put('elsewhere', Readable.from([first]));
      assert.ok((await small(store, 'elsewhere', 0, 9)).equals(first.subarray(0, 10)));
      // another process: a new file renamed over the path
      await writeFile(join(dataDir, 'elsewhere.new'), third);
      await rename(join(dataDir, 'elsewhere.new'), join(dataDir, 'elsewhere'));
      await delay(DESCRIPTOR_REVALIDATE_MS + 50);
      const read = await store.get('elsewhere', { start: 40, end: 49 });
      assert.equal(read.totalSize, third.length);
      assert.ok(read.bytes?.equals(third.subarray(40)));
      await assert.rejects(store.get('elsewhere', { start: 50, end: 59 }), RangeError);
      // then the path removed
      await unlink(join(dataDir, 'elsewhere'));
      await delay(DESCRIPTOR_REVALIDATE_MS + 50);
      await assert.rejects(store.get('elsewhere', { start: 0, end: 9 }), (err: unknown) => isStoreError(err, 'not_found'));
    });

    it('drops the descriptor of an object deleted through the store', async function () {
      await store.put('deleted', Readable.from([Buffer.alloc(10, 7)]));
      const before = await openDescriptors(dataDir);
      assert.ok((await small(store, 'deleted', 0, 9)).equals(Buffer.alloc(10, 7)));
      assert.equal(await openDescriptors(dataDir), before + 1);
      await store.delete('deleted');
      assert.equal(await settleDescriptors(dataDir, before), before);
      await assert.rejects(store.get('deleted', { start: 0, end: 0 }), (err: unknown) => isStoreError(err, 'not_found'));
    });
  });

  it('writeTo refuses a stream already read from', async function () {
    const read = await store.get('blob');
    assert.ok(isSelfWriting(read.body));
    await new Promise<void>((resolve) => read.body.once('readable', resolve));
    read.body.read();
    await assert.rejects(read.body.writeTo(new Collector()), /already read from/);
    const closed = new Promise((resolve) => read.body.once('close', resolve));
    read.body.destroy();
    await closed;
  });
});
