import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Paces garbage collection by the bytes a process streams, so that the buffers a transfer leaves
 * behind are freed while they are still few.
 *
 * Every chunk of a request body (node's HTTP parser copies each socket read, up to 64 KiB, into a
 * buffer of its own), like every chunk a read stream delivers, is a fresh allocation outside the
 * JavaScript heap, freed only when the garbage collector finds its buffer object dead. The
 * objects themselves are small, so the young generation fills slowly and V8 goes by the external
 * bytes instead: it runs a scavenge after some 32 MB of buffers it allocated itself, and for the
 * HTTP parser's it leaves it to its old-space and external-memory limits. Measured on a 1 GiB
 * upload before this pacer: 30–60 MB of dead chunks at a time, a mark-compact every 15–25 MB
 * streamed (0.8 s of GC threads' CPU per GiB), and a glibc heap grown to match, which stays grown.
 *
 * A young-generation collection (scavenge) of a heap with few live young objects takes well under
 * a millisecond, and the chunks of a stream are young when they die. So streams report the bytes
 * they pass on through `noteStreamedBytes` (MeasureStream does, for every upload, stage and import
 * into any store), and after every `INTERVAL_BYTES` of them, whatever the stream, the process runs
 * a scavenge: 256 per GiB, some 50–100 ms in all. The interval must be longer
 * than a chunk lives (the bytes that pass while a sink or socket still holds it, a few MiB here):
 * a chunk that survives two scavenges is promoted to the old generation, where only a full
 * collection frees it, and many survivors make V8 grow the young generation.
 *
 * The collection is V8's `gc()`, which needs `--expose-gc`: set here at run time before a context
 * is created to take the function from, so it holds however node was started. Where that is not
 * possible the pacer does nothing and V8's own heuristics apply.
 */

/** Bytes streamed between two collections. */
export const INTERVAL_BYTES = 4 * 1024 * 1024;

type Collect = (options: { type: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

/** undefined until first needed; null when no collector could be obtained. */
let collect: Collect | null | undefined;
let streamed = 0;

function collector(): Collect | null {
  if (collect !== undefined) return collect;
  collect = null;
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') {
    collect = existing as Collect;
    return collect;
  }
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    if (typeof gc === 'function') collect = gc as Collect;
  } catch {
    // no collector: V8's heuristics alone
  }
  return collect;
}

/**
 * Counts `bytes` of stream chunks passed on (which become garbage soon after) and runs a
 * young-generation collection once `INTERVAL_BYTES` have gone by since the last one.
 */
export function noteStreamedBytes(bytes: number): void {
  streamed += bytes;
  if (streamed < INTERVAL_BYTES) return;
  streamed = 0;
  collector()?.({ type: 'minor' });
}
