import type {
  AlgorithmCaller,
  AlgorithmFields,
  DeleteAlgorithm,
  ImportEntry,
  RegisterAlgorithm,
  SearchAlgorithms,
  UpdateAlgorithm,
} from '../../../domain/algorithms/algorithm-commands';
import { fail, GlintError, isGlintError } from '../../../domain/errors';

/**
 * algoPlatform request bodies → the registry's typed commands. Values are read the way the
 * platform's JSON binding read them: unknown keys are ignored; a string field takes a string, a
 * number or a boolean (as text); an integer field takes a number (a fraction is truncated), a
 * numeric string, or "" for null; anything else is a 400. Required fields are the platform's
 * bean-validation ones: present and not "".
 */

type Body = Record<string, unknown>;

/** Wire field → command field, for the fields taken as text. */
const TEXT_FIELDS = {
  imageName: 'name',
  imageTag: 'tag',
  imagePorts: 'ports',
  imageMount: 'mounts',
  factory: 'factory',
  algoName: 'algoName',
  algoDesc: 'algoDesc',
  config: 'config',
  algoType: 'algoType',
  subPath: 'subPaths',
  hostPath: 'hostPaths',
  workingDir: 'workingDir',
  env: 'env',
  command: 'command',
  args: 'args',
  dependencyServiceId: 'dependencies',
  incidentId: 'incidentId',
  useableFlag: 'useableFlag',
} as const;

const INTEGER_FIELDS = {
  pvcSize: 'pvcSize',
  tvChannel: 'tvChannel',
  pics: 'pics',
  cpuRequests: 'cpuRequests',
  gpuRequests: 'gpuRequests',
  memRequests: 'memRequests',
  eventType: 'eventType',
  frameInterval: 'frameInterval',
  frameNumber: 'frameNumber',
} as const;

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

export function textValue(body: Body, field: string): string | null {
  const value = body[field];
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  fail('BAD_REQUEST', `${field} must be a string`);
}

function integerValue(body: Body, field: string): number | null {
  const value = body[field];
  if (value === undefined || value === null || value === '') return null;
  let number: number;
  if (typeof value === 'number') number = Math.trunc(value);
  else if (typeof value === 'string' && /^[+-]?\d+$/.test(value.trim())) number = Number(value.trim());
  else fail('BAD_REQUEST', `${field} must be an integer`);
  if (!Number.isSafeInteger(number) || number < INT_MIN || number > INT_MAX) fail('BAD_REQUEST', `${field} is out of range`);
  return number;
}

/** Decision: a missing required field is a 400 whose envelope names it. */
function requireText(body: Body, field: string): string {
  const value = textValue(body, field);
  if (value === null || value === '') fail('BAD_REQUEST', `${field} is required`);
  return value;
}

export function asObject(value: unknown, what = 'The request body'): Body {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('BAD_JSON', `${what} must be a JSON object`);
  return value as Body;
}

/** Every record field of `body`, with `required` wire fields checked first, in the platform's order. */
function fieldsOf(body: Body, required: readonly string[]): AlgorithmFields {
  for (const field of required) requireText(body, field);
  const fields: Record<string, unknown> = {};
  for (const [wire, name] of Object.entries(TEXT_FIELDS)) fields[name] = textValue(body, wire);
  for (const [wire, name] of Object.entries(INTEGER_FIELDS)) fields[name] = integerValue(body, wire);
  return fields as unknown as AlgorithmFields;
}

const REGISTER_REQUIRED = ['imageName', 'imageTag', 'factory', 'algoName', 'algoType'];

export function parseRegister(body: Body): RegisterAlgorithm {
  return fieldsOf(body, REGISTER_REQUIRED);
}

export function parseUpdate(body: Body): UpdateAlgorithm {
  const id = requireText(body, 'imageId');
  return { ...fieldsOf(body, REGISTER_REQUIRED), id };
}

export function parseDelete(body: Body): DeleteAlgorithm {
  const id = requireText(body, 'imageId');
  const userResult = body.userResult;
  if (userResult === undefined || userResult === null) fail('BAD_REQUEST', 'userResult is required');
  const user = asObject(userResult, 'userResult');
  const authority = textValue(user, 'authority');
  if (authority === null) fail('BAD_REQUEST', 'userResult.authority is required');
  const caller: AlgorithmCaller = { authority, namespace: textValue(user, 'namespace') };
  return { id, caller };
}

export function parseSearch(body: Body): SearchAlgorithms {
  return { namePrefix: textValue(body, 'namespace'), nameContains: textValue(body, 'searchCondition') };
}

/**
 * One entry of an `_upload` file. The platform ran no bean validation here; an entry without a
 * name, tag or type (which crashed it) or with a value of the wrong type is reported as a failed
 * entry instead. The file's imageId and deleteFlag are ignored; its eventType is kept.
 */
export function parseImportEntry(value: unknown): ImportEntry {
  const body = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Body) : null;
  const label = (field: string): string | null => {
    const raw = body?.[field];
    return typeof raw === 'string' || typeof raw === 'number' ? String(raw) : null;
  };
  try {
    if (!body) fail('BAD_JSON', 'the entry is not a JSON object');
    for (const field of ['imageName', 'imageTag', 'algoType']) {
      if (textValue(body, field) === null) fail('BAD_REQUEST', `${field} is required`);
    }
    return fieldsOf(body, []) as RegisterAlgorithm;
  } catch (err) {
    if (!isGlintError(err)) throw err;
    return { rejected: true, name: label('imageName'), tag: label('imageTag'), reason: err as GlintError };
  }
}
