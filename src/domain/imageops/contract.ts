import type { RequestContext } from '../context';

/**
 * What the imageops jobs (check, compress) offer to the surfaces that use them: the imageops
 * surface (`/api/v1/vmimage`) and the EdgeGallery file-management surface (check after upload,
 * slim). Jobs run on the node's JobRunner and live in the catalog's tasks table, found by their
 * requestId, so any node answers for any job. Reports use imageops' own status codes (see
 * ../shared/spec/imageops.md §4.2 and §5.2) because both surfaces render them as they are.
 */

/** Status of a check, as imageops' GET /check/{requestId} reports it. */
export type CheckStatus = 0 | 1 | 2 | 3 | 4 | 5 | 6;

export interface CheckInfo {
  /** imageops' internal result: 4 running, 0/2/3 qemu-img check exit, 1 qemu-img error, 63 not qcow2, 99 failure, 100 time-out. */
  checkResult?: number;
  /** Lowercase md5 hex of the checked data, or 'error'; absent while running. */
  checksum?: string | null;
  /** qemu-img check fields as strings, plus virtual_size (GiB number) and disk_size (string). */
  imageInfo?: Record<string, string | number> | null;
}

export interface CheckReport {
  status: CheckStatus;
  msg: string;
  /** `{}` for an unknown requestId. */
  checkInfo: CheckInfo;
  /** The checked image (absent for an unknown requestId). */
  imageId?: string;
}

/** Status of a compress, as imageops' GET /compress/{requestId} reports it. */
export type CompressStatus = 0 | 1 | 2 | 3 | 4;

export interface CompressReport {
  status: CompressStatus;
  msg: string;
  /** 0 ≤ rate ≤ 1; exactly 1 when completed. */
  rate: number;
  /** The image that was compressed (absent for an unknown requestId). */
  sourceImageId?: string;
  /** The new image holding the compressed bytes, once completed. */
  outputImageId?: string;
  /** When the compress was started with `recheck`: the check job run on the output, once queued. */
  recheckRequestId?: string;
}

/** The answer to a POST: imageops' `{status, msg, requestId}`. */
export interface JobStarted {
  /** 0 started; 1 refused to start (compress: not enough space, or failure to start). */
  status: 0 | 1;
  msg: string;
  requestId: string;
}

export interface ImageOps {
  /**
   * Resolves imageops' `inputImageName` to an image glint holds: an EdgeGallery save name
   * (`<imageId><fileName>`) or a Glance image id. Throws INVALID_INPUT_IMAGE_NAME-style domain
   * errors for names with `/`, `\`, `..` or NUL; null when no such image exists.
   */
  resolveInputImage(context: RequestContext, inputImageName: string): Promise<string | null>;
  /** Queues a check of an active image's data (qemu-img info / check and the catalog's md5). */
  startCheck(context: RequestContext, imageId: string): Promise<JobStarted>;
  checkReport(requestId: string): Promise<CheckReport>;
  /**
   * Queues a compress of an active image into a new image named `outputName` (same owner,
   * disk_format qcow2). With `recheck`, a check of the output is queued when it completes and
   * its requestId reported (EdgeGallery's slim).
   */
  startCompress(context: RequestContext, imageId: string, outputName: string, options?: { recheck?: boolean }): Promise<JobStarted>;
  compressReport(requestId: string): Promise<CompressReport>;
}
