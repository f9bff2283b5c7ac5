import type { Task } from '../jobs/task';
import type { CheckInfo, CheckReport, CheckStatus, CompressReport } from './contract';

/** Task types of the imageops jobs (rows of the catalog's tasks table). */
export const CHECK_TASK = 'imageops_check';
export const COMPRESS_TASK = 'imageops_compress';

/** imageops' internal check results (`checkInfo.checkResult`). */
export const CHECK_RESULT = { running: 4, consistent: 0, toolError: 1, corrupt: 2, leaks: 3, notQcow2: 63, failed: 99, timedOut: 100 } as const;

export const CHECK_MESSAGES: Readonly<Record<CheckStatus, string>> = {
  0: 'Check Completed, the image is (now) consistent',
  1: 'Check completed, image is corrupted',
  2: 'Check completed, image has leaked clusters, but is not corrupted',
  3: 'Check failed',
  4: 'Check in Progress',
  5: 'Check Exiting because of not support this type of image',
  6: 'Check Time Out',
};
export const CHECK_UNKNOWN_ID = 'Check failed, nonexistent request ID';
export const CHECK_STARTED = 'Check In Progress';

export const COMPRESS_MESSAGES = {
  completed: 'Compress Completed',
  inProgress: 'Compress In Progress',
  failed: 'Compress Failed',
  unknownId: 'Compress Failed, nonexistent request ID',
  noSpace: 'Compress Exiting because of No enouth space left',
  timedOut: 'Compress Time Out',
} as const;

/** Why a compress failed, kept in its task's result (`reason`). */
export type CompressFailure = 'failed' | 'no_space' | 'timeout';

/** What a compress task's result holds while it runs and once it ends. */
export interface CompressRecord {
  rate?: number;
  reason?: CompressFailure;
  outputImageId?: string;
  recheckRequestId?: string;
}

/**
 * The runner's own message when it fails a job over its time-out (JobTimeoutError) without the
 * handler's outcome: the handler normally writes its own, this covers a handler that could not.
 */
function isRunnerTimeout(task: Task): boolean {
  return task.result === null && task.message.startsWith('Job timed out');
}

function isFinal(task: Task): boolean {
  return task.status === 'success' || task.status === 'failure';
}

/**
 * GET /check/{requestId}: imageops' §4.2 procedure applied to the task's record. One deliberate
 * difference (decision 6): a finished job never reads as running, so a record without imageInfo
 * or checksum reports its result (3 or 6) instead of "in progress" for ever.
 */
export function checkReportOf(task: Task | null): CheckReport {
  if (!task || task.type !== CHECK_TASK) return { status: 3, msg: CHECK_UNKNOWN_ID, checkInfo: {} };
  const imageId = task.imageId ?? undefined;
  if (!isFinal(task)) {
    return { status: 4, msg: CHECK_MESSAGES[4], checkInfo: { checkResult: CHECK_RESULT.running, checksum: null, imageInfo: null }, imageId };
  }
  const record: CheckInfo =
    task.result !== null
      ? { ...(task.result as CheckInfo) }
      : { checkResult: isRunnerTimeout(task) ? CHECK_RESULT.timedOut : CHECK_RESULT.failed, checksum: 'error', imageInfo: {} };
  const imageInfo = record.imageInfo ? { ...record.imageInfo } : {};
  if (typeof imageInfo.filename === 'string') imageInfo.filename = imageInfo.filename.slice(imageInfo.filename.lastIndexOf('/') + 1);
  record.imageInfo = imageInfo;
  const status = statusOfResult(record.checkResult);
  return { status, msg: CHECK_MESSAGES[status], checkInfo: record, imageId };
}

function statusOfResult(result: number | undefined): CheckStatus {
  switch (result) {
    case CHECK_RESULT.failed:
      return 3;
    case CHECK_RESULT.timedOut:
      return 6;
    case CHECK_RESULT.notQcow2:
      return 5;
    case CHECK_RESULT.consistent:
      return 0;
    case CHECK_RESULT.corrupt:
      return 1;
    case CHECK_RESULT.leaks:
      return 2;
    default:
      return 3;
  }
}

/** GET /compress/{requestId}: imageops' §5.2 statuses from the task (rate in [0, 1], 1 when completed). */
export function compressReportOf(task: Task | null): CompressReport {
  if (!task || task.type !== COMPRESS_TASK) return { status: 2, msg: COMPRESS_MESSAGES.unknownId, rate: 0 };
  const record = (task.result ?? {}) as CompressRecord;
  const sourceImageId = task.imageId ?? undefined;
  if (!isFinal(task)) {
    const rate = Math.round(Math.min(1, Math.max(0, Number(record.rate) || 0)) * 1000) / 1000;
    return { status: 1, msg: COMPRESS_MESSAGES.inProgress, rate, sourceImageId };
  }
  if (task.status === 'success') {
    return { status: 0, msg: COMPRESS_MESSAGES.completed, rate: 1, sourceImageId, outputImageId: record.outputImageId, recheckRequestId: record.recheckRequestId };
  }
  if (record.reason === 'no_space') return { status: 3, msg: COMPRESS_MESSAGES.noSpace, rate: 0, sourceImageId };
  if (record.reason === 'timeout' || isRunnerTimeout(task)) return { status: 4, msg: COMPRESS_MESSAGES.timedOut, rate: 0, sourceImageId };
  return { status: 2, msg: COMPRESS_MESSAGES.failed, rate: 0, sourceImageId };
}

/**
 * Virtual size in GiB rounded to 3 decimals half-to-even, as Python's `round(bytes / 1024**3, 3)`
 * (exact: 64 MiB = 0.0625 GiB rounds to 0.062).
 */
export function gibibytes(bytes: number): number {
  const scaled = BigInt(Math.trunc(bytes)) * 1000n;
  const unit = 1n << 30n;
  let quotient = scaled / unit;
  const twice = (scaled % unit) * 2n;
  if (twice > unit || (twice === unit && quotient % 2n === 1n)) quotient += 1n;
  return Number(quotient) / 1000;
}
