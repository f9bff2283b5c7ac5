import type { FormatProbe, SafetyFailure } from './probe';

/**
 * A partitioned disk: an MBR (signature 0xaa55 at 510), possibly the protective MBR of a GPT. A
 * FAT boot sector carries the same signature and is told apart by its BIOS parameter block (two
 * FATs, fixed-disk media byte). The `mbr` safety check is Glance's: every partition entry has a
 * valid boot flag, at least one partition is defined, and a protective GPT entry (type 0xee) is the
 * only one, starting at LBA 1 (CHS 0/2/0). A disk without a recognised header has no virtual size
 * of its own: it is its size.
 */
const ENTRIES = 446;

function isFatBootSector(head: Buffer): boolean {
  return head[0x10] === 2 && head[0x15] === 0xf8;
}

function mbrFailure(head: Buffer): string | null {
  const defined: number[] = [];
  let protective = false;
  for (let i = 0; i < 4; i++) {
    const entry = head.subarray(ENTRIES + 16 * i, ENTRIES + 16 * (i + 1));
    const boot = entry[0];
    const type = entry[4];
    if (boot !== 0x00 && boot !== 0x80) return `MBR partition entry ${i} has an invalid boot flag`;
    if (type !== 0) defined.push(i);
    if (type === 0xee) {
      protective = true;
      if (entry[1] !== 0x00 || entry[2] !== 0x02 || entry[3] !== 0x00) return 'GPT protective MBR has an invalid start CHS';
      if (entry.readUInt32LE(8) !== 1) return 'GPT protective MBR has an invalid start LBA';
    }
  }
  if (protective && (defined.length !== 1 || defined[0] !== 0)) return 'GPT protective MBR defines other partitions';
  if (defined.length === 0) return 'MBR has no partitions defined';
  return null;
}

export const gpt: FormatProbe = {
  name: 'gpt',
  needs: 512,
  matches: (head) => head.length >= 512 && head.readUInt16LE(510) === 0xaa55 && !isFatBootSector(head),
  virtualSize: (_head, totalSize) => totalSize,
  safetyFailures(head, policy) {
    const reason = mbrFailure(head);
    const failures: SafetyFailure[] = reason ? [{ check: 'mbr', reason }] : [];
    return failures.filter((f) => !policy.gptSafetyChecksNonfatal.includes(f.check));
  },
};
