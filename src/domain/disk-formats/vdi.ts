import { type FormatProbe, safeNumber } from './probe';

/** VirtualBox VDI: a 512-byte little-endian header, signature 0xbeda107f at 0x40, disk size at 0x170. */
export const vdi: FormatProbe = {
  name: 'vdi',
  needs: 512,
  matches: (head) => head.length >= 512 && head.readUInt32LE(0x40) === 0xbeda107f,
  virtualSize: (head) => safeNumber(head.readBigUInt64LE(0x170)),
  safetyFailures: () => [],
};
