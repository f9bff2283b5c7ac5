/**
 * An algorithm image in the algorithm registry (the algoPlatform surface's records): a container
 * image reference (name + tag) with what the platform needs to run it. Names are the domain's own;
 * the surface maps them to its wire fields. Strings are kept exactly as registered (lists stay
 * comma-separated text: the registry validates their shape but never reinterprets them).
 */
export interface AlgorithmImage {
  /** 32 lower-case hex digits, assigned on registration. */
  id: string;
  /** `algo/posterize`; namespaces are plain string prefixes of it. */
  name: string;
  tag: string;
  /** `type:port` or `name:port:nodePort` items, comma-separated. */
  ports: string | null;
  /** Absolute paths, comma-separated. */
  mounts: string | null;
  /** 1..20. */
  pvcSize: number | null;
  factory: string | null;
  algoName: string | null;
  algoDesc: string | null;
  tvChannel: number | null;
  pics: number | null;
  cpuRequests: number | null;
  gpuRequests: number | null;
  memRequests: number | null;
  /** Absolute file paths, comma-separated. */
  config: string | null;
  /** `0` self-developed, `1` partner, `2` other (the rules accept a comma list of these). */
  algoType: string;
  /** The algorithm number: unique among live records, the key dependencies refer to. */
  eventType: number;
  /** `src:dst` items, comma-separated. */
  subPaths: string | null;
  /** `host:container` items, comma-separated. */
  hostPaths: string | null;
  workingDir: string | null;
  /** `NAME:VALUE` items, comma-separated. */
  env: string | null;
  command: string | null;
  args: string | null;
  /** Event types of the records this one depends on, in the order given; null = none recorded. */
  dependsOn: number[] | null;
  frameInterval: number | null;
  frameNumber: number | null;
  incidentId: string | null;
  useableFlag: string | null;
}

/** The algorithm type whose records need frame settings and may have dependencies. */
export const SELF_DEVELOPED = '0';

/** `name:tag` of a record another one depends on. */
export interface DependencyRef {
  name: string;
  tag: string;
}

/** A record as it is inserted: the id is new, `eventType` null = the next free number. */
export type NewAlgorithmImage = Omit<AlgorithmImage, 'eventType' | 'dependsOn'> & { eventType: number | null };

/** Columns an update may write (never the id, name, tag, pvcSize, eventType, incidentId or useableFlag). */
export type AlgorithmChanges = Partial<
  Pick<
    AlgorithmImage,
    | 'ports'
    | 'mounts'
    | 'factory'
    | 'algoName'
    | 'algoDesc'
    | 'tvChannel'
    | 'pics'
    | 'cpuRequests'
    | 'gpuRequests'
    | 'memRequests'
    | 'config'
    | 'algoType'
    | 'subPaths'
    | 'hostPaths'
    | 'workingDir'
    | 'env'
    | 'command'
    | 'args'
    | 'frameInterval'
    | 'frameNumber'
  >
>;
