/**
 * Virtual size from the first bytes of image data, for the formats whose header carries it
 * (Glance's format inspector, §12 item 11). Returns null when the data does not look like the
 * claimed format, so a qcow2-labelled file of garbage gets no virtual size.
 */

/** Bytes of the image head the inspector needs (the ISO volume descriptor sits at 32 KiB). */
export const INSPECTION_HEAD_BYTES = 64 * 1024;

export function inspectVirtualSize(diskFormat: string | null, head: Buffer, totalSize: number): number | null {
  switch (diskFormat) {
    case 'raw':
      return totalSize;
    case 'qcow2':
      // "QFI\xfb", version 2 or 3, virtual size as big-endian u64 at offset 24.
      if (head.length >= 32 && head.readUInt32BE(0) === 0x514649fb) {
        const version = head.readUInt32BE(4);
        if (version === 2 || version === 3) return safeNumber(head.readBigUInt64BE(24));
      }
      return null;
    case 'vmdk':
      // Sparse extent header "KDMV": capacity in 512-byte sectors, little-endian u64 at offset 12.
      if (head.length >= 20 && head.toString('latin1', 0, 4) === 'KDMV') return mul(safeNumber(head.readBigUInt64LE(12)), 512);
      return null;
    case 'vdi':
      // Signature 0xbeda107f at 0x40; disk size as little-endian u64 at 0x170.
      if (head.length >= 0x178 && head.readUInt32LE(0x40) === 0xbeda107f) return safeNumber(head.readBigUInt64LE(0x170));
      return null;
    case 'iso': {
      // Primary volume descriptor at 32 KiB: "CD001", volume space size (LE u32 at +80) × block size (LE u16 at +128).
      const pvd = 32 * 1024;
      if (head.length >= pvd + 132 && head.toString('latin1', pvd + 1, pvd + 6) === 'CD001') {
        return head.readUInt32LE(pvd + 80) * head.readUInt16LE(pvd + 128);
      }
      return null;
    }
    default:
      return null;
  }
}

function safeNumber(value: bigint): number | null {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
}

function mul(value: number | null, factor: number): number | null {
  return value === null ? null : value * factor;
}
