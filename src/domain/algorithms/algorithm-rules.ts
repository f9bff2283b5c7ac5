import type { ErrorCode } from '../errors';
import { type DependencyRef, SELF_DEVELOPED } from './algorithm';
import type { AlgorithmFields } from './algorithm-commands';

/**
 * The registry's field rules, checked in this order; the first that fails is the answer. They
 * follow the platform's original checks where those are looser than their own error messages say
 * (only the first port's number and the first dependency are checked, `x1:y2` passes as a
 * sub-path), so records the platform accepted stay acceptable. Lists are split the way the
 * original split them: a trailing empty item is dropped, an empty middle item is kept.
 *
 * The patterns are written so that matching is linear in the input: the originals nest
 * quantifiers (`([a-z]+/?)+`) that backtrack exponentially on a near miss.
 */

const NAME = /^[0-9a-z][0-9a-z./_-]*[0-9a-z]$/;
const TAG = /^[0-9a-z](?:[0-9a-z._/-]*[0-9a-z])?$/;
/** Java's `\s`: no Unicode spaces. */
const ONLY_WHITESPACE = /^[ \t\n\v\f\r]+$/;
const ONE_WHITESPACE = /^[ \t\n\v\f\r]$/;
const PORT_TYPE = /^[a-z]+$/;
const PORT_NUMBER = /^[0-9]+$/;
const MOUNT = /^\/[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*\/?$/;
const CONFIG_FILE = /^\/[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*\/?$/;
const HOST_PATH_PART = /^(?:\/[A-Za-z0-9_.-]+)*$/;
const WORKING_DIR = /^\/[/A-Za-z0-9_.-]*$/;
const ALGO_TYPES = new Set(['0', '1', '2']);
const SEGMENT_CHAR = /^[A-Za-z0-9_.-]$/;
const LOWER_OR_DIGIT = /^[0-9a-z]$/;
const LINE_TERMINATOR = /^[\n\r\u0085\u2028\u2029]$/;

export const PVC_SIZE_MIN = 1;
export const PVC_SIZE_MAX = 20;

/** Column sizes of the catalog: longer values cannot be stored (the write fails as a whole). */
export const MAX_NAME_LENGTH = 255;
export const MAX_TAG_LENGTH = 128;
export const MAX_TEXT_LENGTH = 16_000;

/** Splits like Java's String.split with a literal separator: trailing empty items are dropped. */
export function splitList(value: string, separator: string): string[] {
  const parts = value.split(separator);
  if (parts.length === 1) return parts;
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

const isBlank = (value: string | null): value is null | '' => value === null || value === '';

export function isValidName(name: string): boolean {
  return NAME.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

function portsValid(ports: string): boolean {
  // Three-part items (`name:port:nodePort`) are taken as they are.
  const pairs = splitList(ports, ',')
    .map((item) => splitList(item, ':'))
    .filter((parts) => parts.length !== 3);
  // The original checks the first pair's number on every iteration, never the others'.
  return pairs.every((parts) => parts.length === 2 && PORT_TYPE.test(parts[0]) && PORT_NUMBER.test(pairs[0][1]));
}

function everyItem(list: string, pattern: RegExp): boolean {
  return splitList(list, ',').every((item) => pattern.test(item));
}

function mappingsValid(list: string, partValid: (part: string) => boolean): boolean {
  return splitList(list, ',').every((item) => {
    const parts = splitList(item, ':');
    return parts.length === 2 && parts.every(partValid);
  });
}

/**
 * A sub-path side: `(/segment)*` followed by pairs of (any character but a line terminator, then a
 * lower-case letter or digit), e.g. `/data-ym/vol.config`, `` or `x1`. Checked in one pass per
 * place where the path part could end, instead of by a backtracking pattern.
 */
export function isValidSubPathPart(part: string): boolean {
  const chars = Array.from(part);
  const n = chars.length;
  const pairsFrom = new Array<boolean>(n + 2).fill(false);
  pairsFrom[n] = true;
  for (let i = n - 2; i >= 0; i--) {
    pairsFrom[i] = pairsFrom[i + 2] && !LINE_TERMINATOR.test(chars[i]) && LOWER_OR_DIGIT.test(chars[i + 1]);
  }
  if (pairsFrom[0]) return true;
  let i = 0;
  while (i < n && chars[i] === '/') {
    let j = i + 1;
    if (j >= n || !SEGMENT_CHAR.test(chars[j])) return false;
    while (j < n && SEGMENT_CHAR.test(chars[j])) {
      j++;
      // a segment may end anywhere in its run; the rest must then be pairs
      if (pairsFrom[j]) return true;
    }
    i = j;
  }
  return false;
}

function envValid(env: string): boolean {
  if (env === '' || ONE_WHITESPACE.test(env)) return true;
  return splitList(env, ',').every((item) => {
    if (splitList(item, ':').length === 1) return false;
    const colon = item.indexOf(':');
    if (colon < 0) return false;
    const name = item.slice(0, colon);
    const value = item.slice(colon + 1);
    return !ONE_WHITESPACE.test(name) && !ONE_WHITESPACE.test(value);
  });
}

/** No dependencies given: null, empty, or one whitespace character. */
function noDependencies(dependencies: string | null): boolean {
  return dependencies === null || dependencies === '' || ONE_WHITESPACE.test(dependencies);
}

function firstDependencyValid(dependencies: string): boolean {
  const items = splitList(dependencies, ',');
  if (items.length === 0) return true;
  // `name:tag:extra` passes, as it did on the platform; later items are checked when resolved.
  const parts = splitList(items[0], ':');
  return parts.length >= 2 && isValidName(parts[0]) && isValidTag(parts[1]);
}

/** The first rule `fields` break, in the registry's order; null when every rule holds. */
export function firstBrokenRule(fields: AlgorithmFields): ErrorCode | null {
  if (!isValidName(fields.name)) return 'ALGORITHM_NAME_INVALID';
  if (!isValidTag(fields.tag)) return 'ALGORITHM_TAG_INVALID';
  if (!isBlank(fields.algoDesc) && ONLY_WHITESPACE.test(fields.algoDesc)) return 'ALGORITHM_DESCRIPTION_INVALID';
  if (!isBlank(fields.ports) && !portsValid(fields.ports)) return 'ALGORITHM_PORTS_INVALID';
  if (!isBlank(fields.mounts) && !everyItem(fields.mounts, MOUNT)) return 'ALGORITHM_MOUNTS_INVALID';
  // an empty config item passes: the original checked each item with a check that lets '' through
  if (fields.config !== null && !splitList(fields.config, ',').every((item) => item === '' || CONFIG_FILE.test(item))) {
    return 'ALGORITHM_CONFIG_INVALID';
  }
  if (!isBlank(fields.subPaths) && !mappingsValid(fields.subPaths, isValidSubPathPart)) return 'ALGORITHM_SUB_PATHS_INVALID';
  if (!isBlank(fields.hostPaths) && !mappingsValid(fields.hostPaths, (part) => HOST_PATH_PART.test(part))) return 'ALGORITHM_HOST_PATHS_INVALID';
  if (!isBlank(fields.workingDir) && !WORKING_DIR.test(fields.workingDir)) return 'ALGORITHM_WORKING_DIR_INVALID';
  if (fields.algoType !== '' && !splitList(fields.algoType, ',').every((item) => ALGO_TYPES.has(item))) return 'ALGORITHM_TYPE_INVALID';
  if (fields.env !== null && !envValid(fields.env)) return 'ALGORITHM_ENV_INVALID';
  if (fields.pvcSize !== null && (fields.pvcSize < PVC_SIZE_MIN || fields.pvcSize > PVC_SIZE_MAX)) return 'ALGORITHM_PVC_SIZE_INVALID';
  if (fields.algoType === SELF_DEVELOPED) {
    if (fields.frameInterval === null) return 'ALGORITHM_FRAME_INTERVAL_MISSING';
    if (fields.frameNumber === null) return 'ALGORITHM_FRAME_NUMBER_MISSING';
    if (!noDependencies(fields.dependencies) && !firstDependencyValid(fields.dependencies as string)) return 'ALGORITHM_DEPENDENCIES_INVALID';
  }
  return null;
}

/**
 * The records a self-developed algorithm depends on, in the order given; null when it records
 * none (another algorithm type, or no dependencies given). An item that is not `name:tag` with
 * both parts present is returned as a reference no record has (the registry answers "not found").
 */
export function dependencyRefs(fields: Pick<AlgorithmFields, 'algoType' | 'dependencies'>): DependencyRef[] | null {
  if (fields.algoType !== SELF_DEVELOPED || noDependencies(fields.dependencies)) return null;
  const refs = splitList(fields.dependencies as string, ',').map((item) => {
    const [name = '', tag = ''] = splitList(item, ':');
    return { name, tag };
  });
  return refs.length > 0 ? refs : null;
}

/** The first text field too long for the catalog's columns, or null. */
export function oversizedField(fields: AlgorithmFields): string | null {
  if (fields.name.length > MAX_NAME_LENGTH) return 'name';
  if (fields.tag.length > MAX_TAG_LENGTH) return 'tag';
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'string' && value.length > MAX_TEXT_LENGTH) return key;
  }
  return null;
}
