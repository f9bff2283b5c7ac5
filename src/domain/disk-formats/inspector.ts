import type { ImagePolicyConfig } from '../../config/types';
import { GlintError } from '../errors';
import { gpt } from './gpt';
import { iso } from './iso';
import type { DiskFormatPolicy, FormatProbe, SafetyFailure } from './probe';
import { qcow2, qed } from './qemu';
import { vdi } from './vdi';
import { vhd, vhdx } from './vhd';
import { vmdk } from './vmdk';

/**
 * Glance's format inspection (OSSA-2024-001 / CVE-2024-32498, and the content checks Glance
 * added in 2024.2 with `require_image_format_match`), run on the head of the data as it streams
 * in: which format the bytes are, whether that is the declared disk_format, and whether qemu could
 * be made to open other files through it. A refusal is an IMAGE_DATA_INVALID error, thrown while
 * the data is still arriving, so the write fails and nothing is stored.
 */

/** Bytes of the head inspected (the ISO volume descriptor sits at 32 KiB; a VMDK descriptor within the first 64 KiB). */
export const INSPECTION_HEAD_BYTES = 64 * 1024;

/** Every format glint recognises besides raw; data none of them matches is raw. */
export const PROBES: readonly FormatProbe[] = [qcow2, qed, vmdk, vhd, vhdx, vdi, iso, gpt];
const INSPECTABLE = new Set(['raw', ...PROBES.map((p) => p.name)]);

export const DEFAULT_DISK_FORMAT_POLICY: DiskFormatPolicy = {
  requireFormatMatch: true,
  vmdkAllowedTypes: ['streamOptimized', 'monolithicSparse'],
  gptSafetyChecksNonfatal: [],
};

/** The policy `[image_format]` configures. */
export function diskFormatPolicy(config: Pick<ImagePolicyConfig, 'requireImageFormatMatch' | 'vmdkAllowedTypes' | 'gptSafetyChecksNonfatal'>): DiskFormatPolicy {
  return {
    requireFormatMatch: config.requireImageFormatMatch,
    vmdkAllowedTypes: [...config.vmdkAllowedTypes],
    gptSafetyChecksNonfatal: [...config.gptSafetyChecksNonfatal],
  };
}

/** What the head showed: the detected format (null: several matched), and its probe. */
export interface Detection {
  format: string | null;
  probe: FormatProbe | null;
  matched: string[];
}

/**
 * The formats whose signature the head carries. A bootable ISO may carry an MBR in its system
 * area, so ISO + GPT is an ISO; any other pair is refused by the caller (a header hidden in
 * another is how a format check is fooled).
 */
export function detectFormat(head: Buffer): Detection {
  let matches = PROBES.filter((p) => p.matches(head));
  if (matches.length === 2 && matches.includes(iso) && matches.includes(gpt)) matches = [iso];
  const matched = matches.map((p) => p.name);
  if (matches.length === 0) return { format: 'raw', probe: null, matched: ['raw'] };
  if (matches.length > 1) return { format: null, probe: null, matched };
  return { format: matches[0].name, probe: matches[0], matched };
}

/** What a write of image data must do with its head and tail; built per image by `diskImageCheck`. */
export interface DiskImageCheck {
  headBytes: number;
  /** Called once with the head (or all the data when shorter); throws to refuse. Returns the tail bytes still to check. */
  onHead(head: Buffer): number;
  /** Called once at the end with the last bytes asked for; throws to refuse. */
  onEnd(tail: Buffer): void;
}

/**
 * The inspection a write of data for an image with these formats gets, or null when there is
 * nothing to inspect: like Glance, only `bare` containers are inspected (an OVA or a docker
 * tarball is not a disk image).
 */
export function diskImageCheck(diskFormat: string | null, containerFormat: string | null, policy: DiskFormatPolicy): DiskImageCheck | null {
  if (containerFormat !== 'bare' || diskFormat === null) return null;
  let probe: FormatProbe | null = null;
  let tailBytes = 0;
  let head: Buffer = Buffer.alloc(0);
  return {
    headBytes: INSPECTION_HEAD_BYTES,
    onHead(captured) {
      head = captured;
      probe = judgeHead(diskFormat, captured, policy).probe;
      tailBytes = probe?.tailBytes?.(captured) ?? 0;
      return tailBytes;
    },
    onEnd(tail) {
      if (tailBytes === 0 || !probe?.tailFailures) return;
      refuseIfUnsafe(probe, probe.tailFailures(head, tail));
    },
  };
}

/** The verdict on a head: the detection, or an IMAGE_DATA_INVALID error. */
export function judgeHead(diskFormat: string, head: Buffer, policy: DiskFormatPolicy): Detection {
  const detection = detectFormat(head);
  const { format, probe } = detection;
  if (format === null) {
    if (policy.requireFormatMatch) invalid(`Multiple formats detected: ${detection.matched.join(',')}`);
    return detection;
  }
  const matchesDeclared =
    format === diskFormat ||
    // raw is what glint cannot tell apart from anything; formats Glance cannot inspect (ami, ari,
    // aki, ploop) pass as long as the bytes are not a format glint does recognise
    diskFormat === 'raw' ||
    (format === 'raw' && !INSPECTABLE.has(diskFormat));
  if (!matchesDeclared && policy.requireFormatMatch) invalid(`Image disk_format ${diskFormat} does not match stream data ${format}`);
  // Whatever was declared and whatever the match rule says, bytes qemu would read as this format
  // must be safe as this format (Glance skips this when it lets a mismatch through; glint does not).
  if (probe) refuseIfUnsafe(probe, probe.safetyFailures(head, policy));
  return detection;
}

/**
 * virtual_size for an image whose head is `head` (Glance's rule): the header's size when the data
 * is of the declared format, the byte count when it is raw (or declared raw), otherwise unknown.
 */
export function inspectVirtualSize(diskFormat: string | null, head: Buffer, totalSize: number): number | null {
  if (diskFormat === null) return null;
  const { format, probe } = detectFormat(head);
  if (diskFormat === 'raw') return totalSize;
  if (format !== diskFormat) return null;
  return probe ? probe.virtualSize(head, totalSize) : totalSize;
}

function refuseIfUnsafe(probe: FormatProbe, failures: SafetyFailure[]): void {
  if (failures.length === 0) return;
  const detail = failures.map((f) => `${probe.name} ${f.check}: ${f.reason}`).join('; ');
  invalid('Image failed safety checks', detail);
}

function invalid(message: string, detail?: string): never {
  throw new GlintError('IMAGE_DATA_INVALID', message, detail);
}
