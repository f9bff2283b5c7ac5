import { type FormatProbe, safeNumber, startsWith } from './probe';

/**
 * VHD (qemu's "vpc"): a dynamic disk starts with a copy of its 512-byte big-endian footer,
 * "conectix", original size at 40. A fixed VHD has its footer only at the end, so it reads as raw
 * (as in Glance). Nothing in either refers to another file.
 */
export const vhd: FormatProbe = {
  name: 'vhd',
  needs: 512,
  matches: (head) => head.length >= 512 && startsWith(head, 'conectix'),
  virtualSize: (head) => safeNumber(head.readBigUInt64BE(40)),
  safetyFailures: () => [],
};

/**
 * VHDX: the file identifier "vhdxfile" opens the first 64 KiB. Its virtual size sits in the
 * metadata region (found through the region table at 192 KiB, usually around 1–2 MiB in), past the
 * inspected head, so glint reports none. Nothing in it refers to another file.
 */
export const vhdx: FormatProbe = {
  name: 'vhdx',
  needs: 32,
  matches: (head) => startsWith(head, 'vhdxfile'),
  virtualSize: () => null,
  safetyFailures: () => [],
};
