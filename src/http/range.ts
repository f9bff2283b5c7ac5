import parseRange from 'range-parser';
import { fail } from '../domain/errors';
import type { ByteRange } from '../lib/byte-range';

/**
 * Resolves a download's byte range against the image size (Glance §13): a single `Range`, or the
 * legacy `Content-Range` request header when no Range is sent. Returns null for "whole image";
 * throws MULTIPLE_RANGES (400) or RANGE_NOT_SATISFIABLE (416).
 */
export function resolveRequestedRange(rangeHeader: string | undefined, contentRangeHeader: string | undefined, size: number): ByteRange | null {
  if (rangeHeader) return resolveRangeHeader(rangeHeader, size);
  if (contentRangeHeader) return resolveLegacyContentRange(contentRangeHeader, size);
  return null;
}

function unsatisfiable(): never {
  fail('RANGE_NOT_SATISFIABLE', 'Requested range not satisfiable', 'The requested range is not valid for this image.');
}

function resolveRangeHeader(header: string, size: number): ByteRange | null {
  if (header.includes(',')) fail('MULTIPLE_RANGES', 'Multiple ranges are not supported.');
  const compact = header.replace(/\s+/g, '');
  const eq = compact.indexOf('=');
  if (eq < 0) unsatisfiable();
  const unit = compact.slice(0, eq).toLowerCase();
  const spec = compact.slice(eq + 1);
  if (unit !== 'bytes') unsatisfiable();
  if (!/^(\d+-\d*|-\d+)$/.test(spec)) unsatisfiable();
  const suffix = /^-(\d+)$/.exec(spec);
  if (suffix) {
    // The last n bytes; n of 0 or n ≥ size means the whole image (range-parser refuses n > size).
    if (size === 0) unsatisfiable();
    const n = Number(suffix[1]);
    return { start: n === 0 || n >= size ? 0 : size - n, end: size - 1 };
  }
  const parsed = parseRange(size, `bytes=${spec}`, { combine: false });
  if (parsed === -1 || parsed === -2 || parsed.length !== 1) unsatisfiable();
  const [{ start, end }] = parsed;
  if (start >= size || start > end) unsatisfiable();
  return { start, end };
}

/** `Content-Range: bytes a-b/len` or `bytes a-b/*`, as old clients send it on GET. */
function resolveLegacyContentRange(header: string, size: number): ByteRange {
  const match = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(header);
  if (!match) unsatisfiable();
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (start > end) unsatisfiable();
  if (match[3] !== '*' && end >= Number(match[3])) unsatisfiable();
  if (start >= size || end >= size) unsatisfiable();
  return { start, end };
}
