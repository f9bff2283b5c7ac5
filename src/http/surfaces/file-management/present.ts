import type { FileDetails, FileRecord, StoredFile } from '../../../domain/file-management/model';

/** The six imageInfo keys upstream keeps of imageops' report, with their types there. */
const STRING_INFO_KEYS = ['image-end-offset', 'check-errors', 'format'] as const;

/** Go's `2006-01-02 15:04:05` in UTC (upstream's container zone). */
export function uploadTime(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

/** The five keys every answer about one file starts with. */
function recordFields(record: FileRecord): Record<string, string> {
  return {
    imageId: record.imageId,
    fileName: record.fileName,
    uploadTime: uploadTime(record.uploadTime),
    userId: record.userId,
    storageMedium: record.storageMedium,
  };
}

/** The upload and merge reply: exactly upstream's eight keys. */
export function presentStored(stored: StoredFile): Record<string, unknown> {
  return {
    ...recordFields(stored.record),
    slimStatus: 0,
    checkStatus: stored.checkStatus,
    msg: stored.checkMessage,
  };
}

/**
 * A query's answer. Check and compress state come from the jobs' live reports; an image whose
 * check has not finished shows imageops' status 4 (never upstream's "0 with an empty msg").
 * In the list, imageInfo.filename is always '' (as upstream).
 */
export function presentDetails(details: FileDetails, inList = false): Record<string, unknown> {
  const { record, check, compress } = details;
  const info = check?.checkInfo.imageInfo ?? {};
  const imageInfo: Record<string, string | number> = {};
  for (const key of STRING_INFO_KEYS) imageInfo[key] = info[key] === undefined || info[key] === null ? '' : String(info[key]);
  imageInfo.filename = inList ? '' : details.saveName;
  imageInfo.virtual_size = typeof info.virtual_size === 'number' ? info.virtual_size : Number(info.virtual_size ?? 0) || 0;
  imageInfo.disk_size = info.disk_size === undefined || info.disk_size === null ? '' : String(info.disk_size);
  return {
    ...recordFields(record),
    slimStatus: details.slimStatus,
    compressInfo: {
      compressStatus: compress?.status ?? 0,
      compressMsg: compress?.msg ?? '',
      compressRate: compress?.rate ?? 0,
    },
    checkStatusResponse: {
      status: check?.status ?? 0,
      msg: check?.msg ?? '',
      checkInfo: {
        checksum: check?.checkInfo.checksum ?? '',
        checkResult: check?.checkInfo.checkResult ?? 0,
        imageInfo,
      },
    },
  };
}
