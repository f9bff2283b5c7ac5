import { type FormatProbe, type SafetyFailure, safeNumber, startsWith } from './probe';

/**
 * qcow2 (qemu's docs/interop/qcow2.txt): a big-endian header. What makes one unsafe is anything
 * that makes qemu open another file: a backing file (offset at 8), or the external data file
 * incompatible-feature bit (bit 2 of the u64 at 72, version 3). Feature bits qemu added later
 * (extended L2 and beyond) are refused as unknown, as Glance does; version 1 is refused outright.
 */
const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);
/** Bits 0–3: dirty, corrupt, external data file, compression type. */
const KNOWN_INCOMPATIBLE_FEATURES = 0b1111n;
const EXTERNAL_DATA_FILE = 1n << 2n;

export const qcow2: FormatProbe = {
  name: 'qcow2',
  needs: 512,
  matches: (head) => head.length >= 512 && startsWith(head, QCOW2_MAGIC),
  virtualSize: (head) => safeNumber(head.readBigUInt64BE(24)),
  safetyFailures(head) {
    const failures: SafetyFailure[] = [];
    const version = head.readUInt32BE(4);
    if (version !== 2 && version !== 3) failures.push({ check: 'version', reason: `Unsupported qcow2 version ${version}` });
    if (head.readBigUInt64BE(8) !== 0n) failures.push({ check: 'backing_file', reason: 'Image has a backing file' });
    if (version === 3) {
      const features = head.readBigUInt64BE(72);
      if (features & EXTERNAL_DATA_FILE) failures.push({ check: 'data_file', reason: 'Image has data_file set' });
      if (features & ~KNOWN_INCOMPATIBLE_FEATURES) failures.push({ check: 'unknown_features', reason: 'Unknown QCOW2 features found' });
    }
    return failures;
  },
};

/** QED: recognised so it cannot pass as raw, and never allowed (no one supports it any more). */
export const qed: FormatProbe = {
  name: 'qed',
  needs: 512,
  matches: (head) => head.length >= 512 && startsWith(head, 'QED\0'),
  virtualSize: () => null,
  safetyFailures: () => [{ check: 'banned', reason: 'This file format is not allowed' }],
};
