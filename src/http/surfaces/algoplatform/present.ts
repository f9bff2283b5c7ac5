import type { AlgorithmImage } from '../../../domain/algorithms/algorithm';
import type { ExportedAlgorithm, ImportFailure } from '../../../domain/algorithms/algorithm-commands';
import { MESSAGES, messageOf } from './envelope';

/** The platform's 29-field record, keys in the platform's order, nulls included. */
export interface AlgoPlatformRecord {
  imageId: string;
  imageName: string;
  imageTag: string;
  imagePorts: string | null;
  imageMount: string | null;
  pvcSize: number | null;
  factory: string | null;
  algoName: string | null;
  algoDesc: string | null;
  deleteFlag: '0';
  tvChannel: number | null;
  pics: number | null;
  cpuRequests: number | null;
  gpuRequests: number | null;
  memRequests: number | null;
  config: string | null;
  algoType: string;
  eventType: number;
  subPath: string | null;
  hostPath: string | null;
  workingDir: string | null;
  env: string | null;
  command: string | null;
  args: string | null;
  dependencyServiceId: string | null;
  frameInterval: number | null;
  frameNumber: number | null;
  incidentId: string | null;
  useableFlag: string | null;
}

/**
 * A live record on the wire. `dependencyServiceId` is the stored form (event types joined by
 * commas) unless `dependencies` gives the exported `name:tag` form.
 */
export function presentRecord(image: AlgorithmImage, dependencies?: string | null): AlgoPlatformRecord {
  return {
    imageId: image.id,
    imageName: image.name,
    imageTag: image.tag,
    imagePorts: image.ports,
    imageMount: image.mounts,
    pvcSize: image.pvcSize,
    factory: image.factory,
    algoName: image.algoName,
    algoDesc: image.algoDesc,
    // only live records are ever shown
    deleteFlag: '0',
    tvChannel: image.tvChannel,
    pics: image.pics,
    cpuRequests: image.cpuRequests,
    gpuRequests: image.gpuRequests,
    memRequests: image.memRequests,
    config: image.config,
    algoType: image.algoType,
    eventType: image.eventType,
    subPath: image.subPaths,
    hostPath: image.hostPaths,
    workingDir: image.workingDir,
    env: image.env,
    command: image.command,
    args: image.args,
    dependencyServiceId: dependencies !== undefined ? dependencies : image.dependsOn && image.dependsOn.length > 0 ? image.dependsOn.join(',') : null,
    frameInterval: image.frameInterval,
    frameNumber: image.frameNumber,
    incidentId: image.incidentId,
    useableFlag: image.useableFlag,
  };
}

/** `_search`'s `res`: the records, or the platform's string when there are none. */
export function presentSearch(images: AlgorithmImage[]): { data: AlgoPlatformRecord[] | string } {
  return { data: images.length > 0 ? images.map((image) => presentRecord(image)) : MESSAGES.noResults };
}

/** `_load`'s `res` (and image_list.json): records keyed by imageId, in the order found. */
export function presentExport(exported: ExportedAlgorithm[]): Record<string, AlgoPlatformRecord> {
  const out: Record<string, AlgoPlatformRecord> = {};
  for (const { image, dependencies } of exported) out[image.id] = presentRecord(image, dependencies);
  return out;
}

/** `_upload`'s failure message: `<name><tag>:<msg>` per failed entry, all run together as the platform wrote them. */
export function presentImportFailures(failures: ImportFailure[]): string {
  return failures.map((failure) => `${failure.name ?? 'null'}${failure.tag ?? 'null'}:${messageOf(failure.reason)}`).join('');
}
