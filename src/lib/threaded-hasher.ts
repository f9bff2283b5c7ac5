import { createHash } from 'node:crypto';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import type { ContentDigests, ContentHasher } from './content-hasher';

/**
 * md5 and sha512 on two worker threads, so an upload is bounded by the slower hash rather than
 * by their sum. Each input gets a set of fixed shared buffers ("slots"): a chunk is copied once
 * into a slot, both workers hash that slot, and the slot is reused once both have acknowledged it.
 * The slots bound the bytes in flight, so a fast producer waits. Inputs that end below
 * `INLINE_LIMIT` are hashed on the calling thread: for them the round trip costs more than it saves.
 *
 * Memory, since every glint process carries this:
 * - The workers exist only while an input is being hashed: they start with the first input that
 *   needs them and are terminated once none is left. Each is a V8 isolate of about 9 MB resident,
 *   far more than what it hashes; starting one takes some 30 ms, overlapped with the producer
 *   filling the first slots, which is little beside an input of `INLINE_LIMIT` or more.
 * - Slot sets are reused, and each is handed to each worker once. A fresh SharedArrayBuffer per
 *   input would only be freed after the main thread's garbage collector and the worker's let go of
 *   it, and a worker that does nothing but hash hardly ever collects. While the workers run, the
 *   pool keeps one set per input hashed at the same time; when they stop, `IDLE_SETS` stay for
 *   the next inputs and the rest (after a burst of concurrent uploads) is left to the collector.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const INLINE_LIMIT = 4 * MiB;
/**
 * Four 1 MiB slots: both workers can hash one or two while the producer fills the next. Each slot
 * costs two messages out and two acknowledgements back, each a thread wake-up; with 512 KiB slots
 * the bench's hash floor (bench/put-floor-child.ts) ran about 7 % slower on a loaded 2-core machine.
 */
const SLOT_BYTES = MiB;
const SLOT_COUNT = 4;
const IDLE_SETS = 2;
/** A worker allocates little besides its bootstrap: a small young generation is plenty. */
const WORKER_LIMITS: ResourceLimits = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 };

// Plain JavaScript evaluated in the worker, so it runs the same under tsx and compiled.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sets = new Map();
const sessions = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'data') {
    const session = sessions.get(m.id);
    if (session) session.hash.update(session.slots[m.slot].subarray(0, m.length));
    parentPort.postMessage({ op: 'ack', id: m.id, slot: m.slot });
  } else if (m.op === 'set') {
    sets.set(m.set, m.slots.map((s) => new Uint8Array(s)));
  } else if (m.op === 'start') {
    sessions.set(m.id, { hash: createHash(m.algorithm), slots: sets.get(m.set) });
  } else if (m.op === 'digest') {
    const session = sessions.get(m.id);
    sessions.delete(m.id);
    parentPort.postMessage({ op: 'digest', id: m.id, hex: session ? session.hash.digest('hex') : null });
  } else if (m.op === 'abort') {
    sessions.delete(m.id);
  }
});
`;

type Algorithm = 'md5' | 'sha512';

interface SessionListener {
  onAck(slot: number): void;
  onDigest(hex: string | null): void;
  onFailure(error: Error): void;
}

/** SLOT_COUNT shared buffers, reused by one input after another. */
interface SlotSet {
  readonly id: number;
  readonly buffers: readonly SharedArrayBuffer[];
  readonly views: readonly Uint8Array[];
}

/** One worker hosting many hash sessions; started on demand, stopped when idle, replaced if it dies. */
class HashWorker {
  private worker: Worker | null = null;
  /** Slot sets this worker instance has been given. */
  private readonly knownSets = new Set<number>();
  private readonly sessions = new Map<number, SessionListener>();

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, resourceLimits: WORKER_LIMITS });
    worker.on('message', (m: { op: 'ack' | 'digest'; id: number; slot?: number; hex?: string | null }) => {
      const session = this.sessions.get(m.id);
      if (!session) return;
      if (m.op === 'ack') session.onAck(m.slot ?? -1);
      else {
        this.sessions.delete(m.id);
        this.updateReference();
        session.onDigest(m.hex ?? null);
      }
    });
    const fail = (error: Error) => {
      if (this.worker !== worker) return;
      this.forget();
      const sessions = [...this.sessions.values()];
      this.sessions.clear();
      for (const s of sessions) s.onFailure(error);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`hash worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  start(id: number, algorithm: Algorithm, set: SlotSet, listener: SessionListener): void {
    const worker = this.ensure();
    if (!this.knownSets.has(set.id)) {
      worker.postMessage({ op: 'set', set: set.id, slots: set.buffers });
      this.knownSets.add(set.id);
    }
    this.sessions.set(id, listener);
    worker.postMessage({ op: 'start', id, algorithm, set: set.id });
    this.updateReference();
  }

  data(id: number, slot: number, length: number): void {
    this.worker?.postMessage({ op: 'data', id, slot, length });
  }

  digest(id: number): void {
    this.worker?.postMessage({ op: 'digest', id });
  }

  abort(id: number): void {
    if (this.sessions.delete(id)) this.worker?.postMessage({ op: 'abort', id });
    this.updateReference();
  }

  get running(): boolean {
    return this.worker !== null;
  }

  /** Stops the thread; only called when no session is open. */
  terminate(): void {
    const worker = this.worker;
    if (!worker) return;
    this.forget();
    void worker.terminate();
  }

  private forget(): void {
    this.worker = null;
    this.knownSets.clear();
  }

  /** A worker with sessions keeps the process alive; an idle one must not. */
  private updateReference(): void {
    if (!this.worker) return;
    if (this.sessions.size > 0) this.worker.ref();
    else this.worker.unref();
  }
}

/** Both workers, the idle slot sets, and the count of inputs using them. */
class HashPool {
  readonly workers: Record<Algorithm, HashWorker> = { md5: new HashWorker(), sha512: new HashWorker() };
  private readonly idleSets: SlotSet[] = [];
  private nextSetId = 1;
  private open = 0;

  acquire(): SlotSet {
    this.open++;
    return this.idleSets.pop() ?? newSlotSet(this.nextSetId++);
  }

  release(set: SlotSet): void {
    this.idleSets.push(set);
    if (--this.open > 0) return;
    // after this turn of the event loop, so that an input starting right away keeps the workers
    setImmediate(() => {
      if (this.open > 0) return;
      this.workers.md5.terminate();
      this.workers.sha512.terminate();
      // the workers no longer hold any set; keep a few for the next inputs
      this.idleSets.length = Math.min(this.idleSets.length, IDLE_SETS);
    }).unref();
  }
}

function newSlotSet(id: number): SlotSet {
  const buffers: SharedArrayBuffer[] = [];
  for (let i = 0; i < SLOT_COUNT; i++) buffers.push(new SharedArrayBuffer(SLOT_BYTES));
  return { id, buffers, views: buffers.map((b) => new Uint8Array(b)) };
}

const pool = new HashPool();
let nextSessionId = 1;

/** The worker side of one input: a slot set, its acknowledgements, and both digests. */
class RemoteSession {
  private readonly ids: Record<Algorithm, number> = { md5: nextSessionId++, sha512: nextSessionId++ };
  private set: SlotSet | null;
  readonly views: readonly Uint8Array[];
  /** Acknowledgements still owed per slot (two when both workers hold it). */
  private readonly owed: number[] = [];
  private readonly free: number[] = [];
  private slotFreed: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly digests: Record<Algorithm, Promise<string>>;

  constructor() {
    this.set = pool.acquire();
    this.views = this.set.views;
    for (let i = 0; i < SLOT_COUNT; i++) {
      this.owed.push(0);
      this.free.push(i);
    }
    const set = this.set;
    const start = (algorithm: Algorithm) =>
      new Promise<string>((resolve, reject) => {
        pool.workers[algorithm].start(this.ids[algorithm], algorithm, set, {
          onAck: (slot) => {
            if (--this.owed[slot] === 0) {
              this.free.push(slot);
              this.wakeProducer();
            }
          },
          onDigest: (hex) => (hex === null ? reject(new Error(`${algorithm} session lost`)) : resolve(hex)),
          onFailure: (error) => {
            this.failure = error;
            reject(error);
            this.wakeProducer();
          },
        });
      });
    this.digests = { md5: start('md5'), sha512: start('sha512') };
    this.digests.md5.catch(() => {});
    this.digests.sha512.catch(() => {});
  }

  /** A free slot index, or undefined when both workers still hold every slot. */
  takeSlot(): number | undefined {
    if (this.failure) throw this.failure;
    return this.free.pop();
  }

  whenSlotFree(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.free.length > 0) return Promise.resolve();
    return new Promise((resolve) => (this.slotFreed = resolve));
  }

  send(slot: number, length: number): void {
    this.owed[slot] = 2;
    pool.workers.md5.data(this.ids.md5, slot, length);
    pool.workers.sha512.data(this.ids.sha512, slot, length);
  }

  async digest(): Promise<ContentDigests> {
    pool.workers.md5.digest(this.ids.md5);
    pool.workers.sha512.digest(this.ids.sha512);
    try {
      const [md5, sha512] = await Promise.all([this.digests.md5, this.digests.sha512]);
      return { md5, sha512 };
    } finally {
      // both digests (or a failure) arrived: the workers hold none of the slots any more
      await Promise.allSettled([this.digests.md5, this.digests.sha512]);
      this.release();
    }
  }

  /**
   * Gives up the input. The set may go to the next input while a worker still hashes one of its
   * slots for this one: that work is discarded, and the next input's data for the slot is queued
   * behind it, so it is read only after the producer wrote it.
   */
  abort(): void {
    if (this.set === null) return;
    pool.workers.md5.abort(this.ids.md5);
    pool.workers.sha512.abort(this.ids.sha512);
    this.release();
    this.wakeProducer();
  }

  private release(): void {
    const set = this.set;
    if (set === null) return;
    this.set = null;
    pool.release(set);
  }

  private wakeProducer(): void {
    const wake = this.slotFreed;
    this.slotFreed = null;
    wake?.();
  }
}

class ThreadedContentHasher implements ContentHasher {
  /** Chunks held back until the input proves large enough for the workers. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  private remote: RemoteSession | null = null;
  private slot: number | null = null;
  private filled = 0;

  update(chunk: Buffer): void | Promise<void> {
    if (this.remote) return this.append(chunk, 0);
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes < INLINE_LIMIT) return;
    this.remote = new RemoteSession();
    const held = this.held;
    this.held = [];
    return this.appendAll(held, 0);
  }

  async digest(): Promise<ContentDigests> {
    if (!this.remote) {
      const md5 = createHash('md5');
      const sha512 = createHash('sha512');
      for (const c of this.held) {
        md5.update(c);
        sha512.update(c);
      }
      this.held = [];
      return { md5: md5.digest('hex'), sha512: sha512.digest('hex') };
    }
    if (this.slot !== null && this.filled > 0) this.remote.send(this.slot, this.filled);
    this.slot = null;
    return this.remote.digest();
  }

  destroy(): void {
    this.held = [];
    this.remote?.abort();
  }

  /** Appends `chunks[index..]` in order (the held chunks, without concatenating them). */
  private appendAll(chunks: Buffer[], index: number): void | Promise<void> {
    for (; index < chunks.length; index++) {
      const pending = this.append(chunks[index], 0);
      if (pending) {
        const next = index + 1;
        return pending.then(() => this.appendAll(chunks, next));
      }
    }
  }

  /** Copies `chunk[offset..]` into slots, sending each full one; waits when no slot is free. */
  private append(chunk: Buffer, offset: number): void | Promise<void> {
    const remote = this.remote as RemoteSession;
    while (offset < chunk.length) {
      if (this.slot === null) {
        const slot = remote.takeSlot();
        if (slot === undefined) {
          const resumeAt = offset;
          return remote.whenSlotFree().then(() => this.append(chunk, resumeAt));
        }
        this.slot = slot;
        this.filled = 0;
      }
      const n = Math.min(chunk.length - offset, SLOT_BYTES - this.filled);
      remote.views[this.slot].set(chunk.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === SLOT_BYTES) {
        remote.send(this.slot, this.filled);
        this.slot = null;
      }
    }
  }
}

export function createThreadedContentHasher(): ContentHasher {
  return new ThreadedContentHasher();
}

/** Hash worker threads running now (0 while no input needs them, else 2); for tests and diagnostics. */
export function runningHashWorkers(): number {
  return (pool.workers.md5.running ? 1 : 0) + (pool.workers.sha512.running ? 1 : 0);
}
