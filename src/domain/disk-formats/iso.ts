import type { FormatProbe } from './probe';

/**
 * ISO 9660 and UDF: 16 sectors of 2 KiB system area, then a volume descriptor whose standard
 * identifier (bytes 1–5) is CD001 (ISO 9660) or NSR02/NSR03 (UDF). A primary volume descriptor
 * (type 1) gives the volume size: blocks (LE u32 at +80) × block size (LE u16 at +128).
 */
const DESCRIPTOR = 32 * 1024;
const IDENTIFIERS = new Set(['CD001', 'NSR02', 'NSR03']);

export const iso: FormatProbe = {
  name: 'iso',
  needs: DESCRIPTOR + 2048,
  matches: (head) => head.length >= DESCRIPTOR + 2048 && IDENTIFIERS.has(head.toString('latin1', DESCRIPTOR + 1, DESCRIPTOR + 6)),
  virtualSize(head) {
    if (head[DESCRIPTOR] !== 1) return null;
    return head.readUInt32LE(DESCRIPTOR + 80) * head.readUInt16LE(DESCRIPTOR + 128);
  },
  safetyFailures: () => [],
};
