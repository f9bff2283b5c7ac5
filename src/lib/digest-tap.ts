import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes bytes through unchanged and hashes them with one extra algorithm on the way (sha256 for
 * OCI digests). Used only by writes that ask for it, so other uploads pay nothing. `digest` is
 * available once the stream has ended.
 */
export class DigestTap extends Transform {
  private readonly hash: Hash;
  private hex: string | undefined;

  constructor(readonly algorithm: string) {
    super();
    this.hash = createHash(algorithm);
  }

  /** Lowercase hex digest of every byte that went through; throws before the end. */
  get digest(): string {
    if (this.hex === undefined) throw new Error(`the ${this.algorithm} digest is not complete`);
    return this.hex;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    callback();
  }
}
