import { Transform, type TransformCallback } from 'node:stream';

/** Checks run on the data as it passes; a throw fails the stream with that error. */
export interface HeadHooks {
  /**
   * Called once with the first `limit` bytes (all of them when the data is shorter), before any
   * of them is passed on. Returns how many trailing bytes `onEnd` needs (0 or nothing: none).
   */
  onHead?(head: Buffer): number | void;
  /** Called once at the end with the last bytes asked for by `onHead`, before the stream ends. */
  onEnd?(tail: Buffer): void;
}

/**
 * Passes bytes through unchanged and keeps a copy of the first `limit` of them. With hooks,
 * `onHead` runs as soon as the head is complete, before the chunk that completed it is passed on,
 * so a refusal fails the stream with at most the head's first bytes let through (the consumer's
 * own limits, such as a size cap, keep working on those); `onEnd` runs before the stream ends.
 */
export class HeadCapture extends Transform {
  private readonly parts: Buffer[] = [];
  private captured = 0;
  private judged = false;
  private tailWanted = 0;
  private tail: Buffer = Buffer.alloc(0);

  constructor(
    private readonly limit: number,
    private readonly hooks: HeadHooks = {},
  ) {
    super();
  }

  get head(): Buffer {
    return Buffer.concat(this.parts);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const part = this.capture(chunk);
      if (this.hooks.onHead && !this.judged && this.captured >= this.limit) this.judge(chunk.subarray(part));
      else this.keepTail(chunk);
      callback(null, chunk);
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.hooks.onHead && !this.judged) this.judge(Buffer.alloc(0));
      this.hooks.onEnd?.(this.tail);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  /** Runs `onHead` on the head; `rest` is what the current chunk carries past it. */
  private judge(rest: Buffer): void {
    this.judged = true;
    const head = this.head;
    this.tailWanted = this.hooks.onHead?.(head) || 0;
    if (this.tailWanted > 0) this.tail = Buffer.from(head.subarray(Math.max(0, head.length - this.tailWanted)));
    this.keepTail(rest);
  }

  /** Copies what of `chunk` still belongs to the head; returns how many bytes that was. */
  private capture(chunk: Buffer): number {
    if (this.captured >= this.limit) return 0;
    const part = chunk.subarray(0, this.limit - this.captured);
    this.parts.push(Buffer.from(part));
    this.captured += part.length;
    return part.length;
  }

  /** Keeps the last `tailWanted` bytes seen after the head (judge seeds it from the head). */
  private keepTail(chunk: Buffer): void {
    if (!this.judged || this.tailWanted === 0 || chunk.length === 0) return;
    if (chunk.length >= this.tailWanted) this.tail = Buffer.from(chunk.subarray(chunk.length - this.tailWanted));
    else this.tail = Buffer.concat([this.tail, chunk]).subarray(-this.tailWanted);
  }
}
