import { type FormatProbe, type SafetyFailure, safeNumber, startsWith } from './probe';

/**
 * VMDK. Two shapes reach an upload: a single file with a "hosted sparse extent" header (magic
 * KDMV, little-endian) and its text descriptor embedded at sector 1 — monolithicSparse and
 * streamOptimized — or a bare text descriptor whose extent lines name other files (monolithicFlat,
 * twoGbMaxExtent*, vmfs…). qemu opens whatever files a descriptor names, relative to the image, so
 * a descriptor is the way to make it read /etc/passwd. Following Glance:
 *
 * - only the single-file types are allowed, and of those only the ones in `vmdk_allowed_types`;
 *   a bare descriptor (whose extents are necessarily outside the image) is always refused;
 * - the descriptor must sit at sector 1, and each of its lines must be a comment, a `ddb` line, a
 *   `key=value` header or an extent line; extent lines must not contain '/'; there must be one;
 * - a streamOptimized file whose grain directory is "at the end" has a footer that takes precedence
 *   over the header: it must repeat the header's descriptor, and the end-of-stream marker follows.
 */

const HEADER = 'KDMV';
/** Where qemu expects the embedded descriptor, and the most it reads of it. */
const DESCRIPTOR_OFFSET = 0x200;
const DESCRIPTOR_MAX = (1 << 20) - 1;
const GD_AT_END = 0xffffffffffffffffn;
const SINGLE_FILE_TYPES = new Set(['monolithicsparse', 'streamoptimized']);
const EXTENT_ACCESS = new Set(['rw', 'rdonly', 'noaccess']);
/** Footer marker, footer (a copy of the header) and end-of-stream marker: three sectors. */
const FOOTER_BYTES = 1536;
const MARKER_FOOTER = 3;
const MARKER_EOS = 0;

interface SparseHeader {
  version: number;
  capacitySectors: bigint;
  descriptorSector: bigint;
  descriptorSectors: bigint;
  gdOffset: bigint;
}

function sparseHeader(buffer: Buffer, at = 0): SparseHeader | null {
  if (buffer.length < at + 64 || !startsWith(buffer, HEADER, at)) return null;
  return {
    version: buffer.readUInt32LE(at + 4),
    capacitySectors: buffer.readBigUInt64LE(at + 12),
    descriptorSector: buffer.readBigUInt64LE(at + 28),
    descriptorSectors: buffer.readBigUInt64LE(at + 36),
    gdOffset: buffer.readBigUInt64LE(at + 56),
  };
}

/** A head that is printable ASCII text throughout its first sector: a bare descriptor file. */
function isText(head: Buffer): boolean {
  const first = head.subarray(0, 512);
  if (first.length === 0) return false;
  for (const byte of first) {
    const printable = byte >= 0x20 && byte < 0x7f;
    const space = byte === 0x09 || byte === 0x0a || byte === 0x0b || byte === 0x0c || byte === 0x0d;
    if (!printable && !space) return false;
  }
  return true;
}

/** The descriptor text, lower-cased; `complete` is false when it runs past the inspected head. */
function descriptorText(head: Buffer, header: SparseHeader | null): { text: string; complete: boolean } {
  let start = 0;
  let end = head.length;
  if (header) {
    start = DESCRIPTOR_OFFSET;
    const length = Math.min(Number(header.descriptorSectors > 4096n ? 4096n : header.descriptorSectors) * 512, DESCRIPTOR_MAX);
    end = start + length;
  }
  const region = head.subarray(start, Math.min(end, head.length));
  const nul = region.indexOf(0);
  const text = (nul >= 0 ? region.subarray(0, nul) : region).toString('latin1').toLowerCase();
  return { text, complete: nul >= 0 || end <= head.length };
}

/** The createType value, lower-cased; null when the descriptor names none (or an absurd one). */
function createType(text: string): string | null {
  const key = 'createtype="';
  const at = text.indexOf(key);
  if (at < 0) return null;
  const end = text.indexOf('"', at + key.length);
  if (end < 0 || end - (at + key.length) >= 64) return null;
  return text.slice(at + key.length, end);
}

function descriptorFailures(text: string): SafetyFailure[] {
  const fail = (reason: string) => [{ check: 'descriptor', reason }];
  let extents = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('ddb')) continue;
    const eq = line.indexOf('=');
    if (eq > 0 && !line.slice(0, eq).includes(' ')) continue;
    if (EXTENT_ACCESS.has(line.split(' ')[0])) {
      if (line.includes('/')) return fail('Invalid extent filenames found');
      extents += 1;
      continue;
    }
    return fail('Invalid VMDK descriptor data');
  }
  return extents === 0 ? fail('No extents found') : [];
}

function isMarker(sector: Buffer, type: number): boolean {
  if (sector.length !== 512 || sector.readUInt32LE(8) !== 0 || sector.readUInt32LE(12) !== type) return false;
  if (type === MARKER_EOS && sector.readBigUInt64LE(0) !== 0n) return false;
  return sector.subarray(16).every((b) => b === 0);
}

export const vmdk: FormatProbe = {
  name: 'vmdk',
  needs: 64,
  matches(head) {
    if (startsWith(head, HEADER)) return true;
    return isText(head) && createType(descriptorText(head, null).text) !== null;
  },
  virtualSize(head) {
    const header = sparseHeader(head);
    const type = header && createType(descriptorText(head, header).text);
    if (!header || type === null || !SINGLE_FILE_TYPES.has(type)) return null;
    return safeNumber(header.capacitySectors * 512n);
  },
  safetyFailures(head, policy) {
    const header = sparseHeader(head);
    if (!header) return [{ check: 'descriptor', reason: 'VMDK descriptor file: its extents are files outside the image' }];
    if (header.version < 1 || header.version > 3) return [{ check: 'descriptor', reason: `Unsupported VMDK version ${header.version}` }];
    if (header.descriptorSector * 512n !== BigInt(DESCRIPTOR_OFFSET)) return [{ check: 'descriptor', reason: 'Wrong descriptor location' }];
    const { text, complete } = descriptorText(head, header);
    if (!complete) return [{ check: 'descriptor', reason: 'VMDK descriptor is larger than the inspected head' }];
    const type = createType(text);
    if (type === null) return [{ check: 'descriptor', reason: 'No createType in the VMDK descriptor' }];
    const allowed = policy.vmdkAllowedTypes.map((t) => t.toLowerCase());
    if (!SINGLE_FILE_TYPES.has(type) || !allowed.includes(type)) return [{ check: 'descriptor', reason: `Unsupported subformat ${type}` }];
    return descriptorFailures(text);
  },
  tailBytes: (head) => (sparseHeader(head)?.gdOffset === GD_AT_END ? FOOTER_BYTES : 0),
  tailFailures(head, tail) {
    const fail = (reason: string) => [{ check: 'footer', reason }];
    const header = sparseHeader(head);
    if (!header) return [];
    if (tail.length < FOOTER_BYTES) return fail('Footer is missing');
    const footer = sparseHeader(tail, 512);
    if (!footer) return fail('Header and footer signature do not match');
    if (footer.version !== header.version) return fail('Header and footer versions do not match');
    if (footer.descriptorSector !== header.descriptorSector || footer.descriptorSectors !== header.descriptorSectors) {
      return fail('Footer specifies a different descriptor than header');
    }
    if (footer.gdOffset === GD_AT_END) return fail('Footer indicates another footer');
    if (!isMarker(tail.subarray(0, 512), MARKER_FOOTER)) return fail('Footer marker is invalid');
    if (!isMarker(tail.subarray(1024), MARKER_EOS)) return fail('End-of-stream marker is invalid');
    return [];
  },
};
