import { createHash } from 'node:crypto';

export interface ContentDigests {
  /** hex */
  md5: string;
  /** hex */
  sha512: string;
}

/**
 * Computes md5 (Glance `checksum`) and sha512 (`os_hash_value`) over a byte sequence fed in order.
 *
 * `update` may return a promise to apply back-pressure: an implementation that hashes on worker
 * threads resolves it once the chunk has been handed over. Callers must not modify a chunk after
 * passing it in, and must call either `digest` once or `destroy`.
 */
export interface ContentHasher {
  update(chunk: Buffer): void | Promise<void>;
  digest(): Promise<ContentDigests>;
  /** Releases resources when the input is abandoned before `digest`; safe to call more than once. */
  destroy(): void;
}

/** Both digests on the calling thread. */
export function createInlineContentHasher(): ContentHasher {
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  return {
    update(chunk) {
      md5.update(chunk);
      sha512.update(chunk);
    },
    digest() {
      return Promise.resolve({ md5: md5.digest('hex'), sha512: sha512.digest('hex') });
    },
    destroy() {},
  };
}
