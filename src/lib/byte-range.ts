/** Inclusive byte range: `{start: 0, end: 0}` is the first byte. */
export interface ByteRange {
  start: number;
  end: number;
}
