export type { DiskFormatPolicy, FormatProbe, SafetyFailure } from './probe';
export {
  DEFAULT_DISK_FORMAT_POLICY,
  detectFormat,
  diskFormatPolicy,
  diskImageCheck,
  INSPECTION_HEAD_BYTES,
  inspectVirtualSize,
  judgeHead,
  PROBES,
  type Detection,
  type DiskImageCheck,
} from './inspector';
