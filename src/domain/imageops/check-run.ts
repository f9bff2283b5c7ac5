import type { Logger } from '../../lib/logger';
import type { Job, JobOutcome } from '../jobs/handler';
import { JobTimeoutError } from '../jobs/handler';
import type { Catalog } from '../repositories';
import type { CheckInfo } from './contract';
import type { ImageFiles } from './image-file';
import type { QemuImg } from './qemu-img';
import { CHECK_MESSAGES, CHECK_RESULT, gibibytes } from './reports';

/** What a check task's input holds. */
export interface CheckInput {
  image_id: string;
}

export interface CheckRunDeps {
  catalog: Catalog;
  files: ImageFiles;
  qemu: QemuImg;
  logger: Logger;
}

/**
 * One check (imageops §4.3, done once and in order): `qemu-img info`; for qcow2 `qemu-img check`;
 * the md5 is the checksum the catalog holds for the image (computed when its data was written).
 * The outcome's result is the complete `checkInfo` record, written with the final status in one
 * update, so no reader ever sees a result without its checksum. A time-out kills qemu-img and
 * ends as result 100 with checksum `error`; a shutdown or a lost lease throws (the job is resumed
 * from the start: a check changes nothing).
 */
export async function runCheck(deps: CheckRunDeps, job: Job, signal: AbortSignal): Promise<JobOutcome> {
  const { image_id: imageId } = job.input as unknown as CheckInput;
  const image = await deps.catalog.images.get(imageId);
  if (!image || image.status !== 'active' || !image.checksum || image.locations.length === 0) {
    return ended({ checkResult: CHECK_RESULT.failed, checksum: 'error', imageInfo: {} }, `Image ${imageId} has no active data to check.`);
  }
  const md5 = image.checksum;
  let imageInfo: Record<string, string | number> = {};
  try {
    return await deps.files.withScratch(async (scratch) => {
      const file = await deps.files.fileOf(image, scratch, signal);
      const info = await deps.qemu.info(file, signal);
      const sizes = { virtual_size: gibibytes(info.virtualSize), disk_size: String(info.actualSize) };
      imageInfo = { format: info.format, ...sizes };
      if (info.externalFile !== null) {
        return ended({ checkResult: CHECK_RESULT.failed, checksum: md5, imageInfo }, 'The image refers to another file; it is not checked.');
      }
      if (info.format !== 'qcow2') return ended({ checkResult: CHECK_RESULT.notQcow2, checksum: md5, imageInfo });
      const checked = await deps.qemu.check(file, signal);
      if (Object.keys(checked.fields).length > 0) imageInfo = { ...checked.fields, ...sizes };
      const known: number[] = [CHECK_RESULT.consistent, CHECK_RESULT.toolError, CHECK_RESULT.corrupt, CHECK_RESULT.leaks];
      const checkResult = known.includes(checked.exitCode) ? checked.exitCode : CHECK_RESULT.failed;
      return ended({ checkResult, checksum: md5, imageInfo });
    });
  } catch (err) {
    if (signal.reason instanceof JobTimeoutError) return ended({ checkResult: CHECK_RESULT.timedOut, checksum: 'error', imageInfo }, CHECK_MESSAGES[6]);
    if (signal.aborted) throw err;
    deps.logger.warn('imageops check failed', { requestId: job.id, imageId, error: String(err) });
    return ended({ checkResult: CHECK_RESULT.failed, checksum: md5, imageInfo }, `${CHECK_MESSAGES[3]}: ${(err as Error).message}`);
  }
}

/** The job's final status: success when qemu-img gave a verdict (0, 2, 3, or not qcow2), else failure. */
function ended(record: CheckInfo, message?: string): JobOutcome {
  const verdicts: Array<number | undefined> = [CHECK_RESULT.consistent, CHECK_RESULT.corrupt, CHECK_RESULT.leaks, CHECK_RESULT.notQcow2];
  const result = record as Record<string, unknown>;
  if (verdicts.includes(record.checkResult)) return { status: 'success', message: message ?? '', result };
  return { status: 'failure', message: message ?? CHECK_MESSAGES[3], result };
}
