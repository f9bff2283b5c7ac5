import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { ContentDigests, ContentHasher } from './content-hasher';

/**
 * md5 and sha512 on two worker threads, so an upload is bounded by the slower hash rather than
 * by their sum. Each input gets a few fixed shared buffers ("slots"): a chunk is copied once into
 * a slot, both workers hash that slot, and the slot is reused once both have acknowledged it.
 * Reusing slots matters: a fresh SharedArrayBuffer per batch is only freed when both threads'
 * garbage collectors let go of it, which lets memory pile up. The slots also bound the bytes in
 * flight, so a fast producer waits. Inputs that end below `INLINE_LIMIT` are hashed on the calling
 * thread: for them the round trip costs more than it saves.
 */

const INLINE_LIMIT = 4 * 1024 * 1024;
const SLOT_BYTES = 1024 * 1024;
const SLOT_COUNT = 8;

// Plain JavaScript evaluated in the worker, so it runs the same under tsx and compiled.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sessions = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'start') {
    sessions.set(m.id, { hash: createHash(m.algorithm), slots: m.slots.map((s) => new Uint8Array(s)) });
  } else if (m.op === 'data') {
    const session = sessions.get(m.id);
    if (session) session.hash.update(session.slots[m.slot].subarray(0, m.length));
    parentPort.postMessage({ op: 'ack', id: m.id, slot: m.slot });
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

/** One long-lived worker hosting many hash sessions; replaced if it ever dies. */
class HashWorker {
  private worker: Worker | null = null;
  private readonly sessions = new Map<number, SessionListener>();

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true });
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
      this.worker = null;
      const sessions = [...this.sessions.values()];
      this.sessions.clear();
      for (const s of sessions) s.onFailure(error);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`hash worker exited with code ${code}`)));
    this.worker = worker;
    this.updateReference();
    return worker;
  }

  start(id: number, algorithm: Algorithm, slots: SharedArrayBuffer[], listener: SessionListener): void {
    this.sessions.set(id, listener);
    this.ensure().postMessage({ op: 'start', id, algorithm, slots });
    this.updateReference();
  }

  /** A worker with sessions keeps the process alive; an idle one must not. */
  private updateReference(): void {
    if (!this.worker) return;
    if (this.sessions.size > 0) this.worker.ref();
    else this.worker.unref();
  }

  data(id: number, slot: number, length: number): void {
    this.ensure().postMessage({ op: 'data', id, slot, length });
  }

  digest(id: number): void {
    this.ensure().postMessage({ op: 'digest', id });
  }

  abort(id: number): void {
    if (this.sessions.delete(id)) this.worker?.postMessage({ op: 'abort', id });
    this.updateReference();
  }
}

const workers: Record<Algorithm, HashWorker> = { md5: new HashWorker(), sha512: new HashWorker() };
let nextSessionId = 1;

/** The worker side of one input: shared slots, their acknowledgements, and both digests. */
class RemoteSession {
  private readonly id = nextSessionId++;
  private readonly slots: SharedArrayBuffer[] = [];
  readonly views: Uint8Array[] = [];
  /** Acknowledgements still owed per slot (two when both workers hold it). */
  private readonly owed: number[] = [];
  private readonly free: number[] = [];
  private slotFreed: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly digests: Record<Algorithm, Promise<string>>;

  constructor() {
    for (let i = 0; i < SLOT_COUNT; i++) {
      const slot = new SharedArrayBuffer(SLOT_BYTES);
      this.slots.push(slot);
      this.views.push(new Uint8Array(slot));
      this.owed.push(0);
      this.free.push(i);
    }
    const start = (algorithm: Algorithm) =>
      new Promise<string>((resolve, reject) => {
        workers[algorithm].start(this.id, algorithm, this.slots, {
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
    workers.md5.data(this.id, slot, length);
    workers.sha512.data(this.id, slot, length);
  }

  async digest(): Promise<ContentDigests> {
    workers.md5.digest(this.id);
    workers.sha512.digest(this.id);
    const [md5, sha512] = await Promise.all([this.digests.md5, this.digests.sha512]);
    return { md5, sha512 };
  }

  abort(): void {
    workers.md5.abort(this.id);
    workers.sha512.abort(this.id);
    this.wakeProducer();
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
    const held = Buffer.concat(this.held);
    this.held = [];
    return this.append(held, 0);
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
