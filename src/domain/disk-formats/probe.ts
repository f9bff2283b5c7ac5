/**
 * The shape every disk-format probe has (one file per format beside this one). A probe reads only
 * the head of the data (the first INSPECTION_HEAD_BYTES, or all of it when the data is shorter)
 * and, for the formats that need it, a few bytes at the end. Everything here is pure: bytes in,
 * facts out; inspector.ts turns the facts into Glance's verdicts.
 */

/** Operator rules from `[image_format]`, as in Glance. */
export interface DiskFormatPolicy {
  /** `require_image_format_match`: refuse data whose detected format differs from disk_format. */
  requireFormatMatch: boolean;
  /** `vmdk_allowed_types`: VMDK createType values accepted (case-insensitive); empty = no VMDK. */
  vmdkAllowedTypes: readonly string[];
  /** `gpt_safety_checks_nonfatal`: GPT/MBR safety check names that only warn (`mbr`). */
  gptSafetyChecksNonfatal: readonly string[];
}

/** One failed safety check: Glance's check name and why it failed. */
export interface SafetyFailure {
  check: string;
  reason: string;
}

export interface FormatProbe {
  /** The format's name as qemu-img and Glance's disk_format spell it. */
  readonly name: string;
  /** Leading bytes the probe needs; data shorter than this is not of this format. */
  readonly needs: number;
  /** Whether the head carries this format's signature (`head` may be shorter than `needs`). */
  matches(head: Buffer): boolean;
  /** The disk size the header announces, in bytes; null when it says none or cannot be trusted. */
  virtualSize(head: Buffer, totalSize: number): number | null;
  /** What makes this image unsafe to hand to qemu (empty: nothing found). */
  safetyFailures(head: Buffer, policy: DiskFormatPolicy): SafetyFailure[];
  /** Trailing bytes the probe still has to check once the data ends (0: none). */
  tailBytes?(head: Buffer): number;
  /** Checks of the last `tailBytes(head)` bytes (fewer when the data is shorter). */
  tailFailures?(head: Buffer, tail: Buffer): SafetyFailure[];
}

/** A u64 that fits a JavaScript number, or null. */
export function safeNumber(value: bigint): number | null {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : null;
}

export function startsWith(head: Buffer, magic: string | Buffer, offset = 0): boolean {
  const bytes = typeof magic === 'string' ? Buffer.from(magic, 'latin1') : magic;
  return head.length >= offset + bytes.length && head.subarray(offset, offset + bytes.length).equals(bytes);
}
