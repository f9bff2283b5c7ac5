import { detectFormat, diskImageCheck, type DiskFormatPolicy, INSPECTION_HEAD_BYTES } from '../disk-formats';
import type { DataCheck } from '../ingest';

/**
 * The disk-format inspection for data whose format nobody declared (EdgeGallery uploads): the
 * format is detected from the head, then the data gets exactly the checks Glance gives data
 * declared as that format (an unsafe qcow2, a header hidden in another… fail the write). Formats
 * the catalog does not accept as a disk_format (GPT-partitioned disks, qed) are recorded as raw,
 * still checked as what they are.
 */
export class DetectedFormat {
  private detected: string | null = null;
  readonly check: DataCheck;

  constructor(policy: DiskFormatPolicy, acceptedFormats: readonly string[]) {
    let inner: DataCheck | null = null;
    this.check = {
      headBytes: INSPECTION_HEAD_BYTES,
      onHead: (head) => {
        const found = detectFormat(head).format;
        // several signatures at once: judged as raw, which refuses the mix (require_image_format_match)
        const format = found !== null && found !== 'gpt' && acceptedFormats.includes(found) ? found : 'raw';
        inner = diskImageCheck(format, 'bare', policy);
        const tail = inner?.onHead?.(head) ?? 0;
        this.detected = format;
        return tail || 0;
      },
      onEnd: (tail) => inner?.onEnd?.(tail),
    };
  }

  /** The disk_format to record; valid once the data has been written. */
  get format(): string {
    return this.detected ?? 'raw';
  }
}
