import { Transform, type TransformCallback } from 'node:stream';

/** Passes bytes through unchanged and keeps a copy of the first `limit` of them. */
export class HeadCapture extends Transform {
  private readonly parts: Buffer[] = [];
  private captured = 0;

  constructor(private readonly limit: number) {
    super();
  }

  get head(): Buffer {
    return Buffer.concat(this.parts);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.captured < this.limit) {
      const part = chunk.subarray(0, this.limit - this.captured);
      this.parts.push(Buffer.from(part));
      this.captured += part.length;
    }
    callback(null, chunk);
  }
}
