import { Readable, type Writable } from 'node:stream';

/**
 * A body that can also send itself into a Writable it then ends (a driver's fast path to an HTTP
 * response: its own buffers and reads, no stream machinery per chunk). `writeTo` is used instead
 * of reading the stream, never after; it resolves once `out` has finished, rejects when a read
 * fails (after destroying `out`) or `out` closes first, and leaves the body destroyed either way.
 */
export interface SelfWritingBody {
  writeTo(out: Writable): Promise<void>;
}

export function isSelfWriting(body: unknown): body is Readable & SelfWritingBody {
  return body instanceof Readable && typeof (body as Partial<SelfWritingBody>).writeTo === 'function';
}
