import { fail } from '../../../domain/errors';
import type { PatchOperation } from './image-request';
import { GlintHttpError } from '../../errors';

/** The two JSON-patch dialects of Glance's PATCH (spec §9), turned into domain operations. */

export const PATCH_V21 = 'application/openstack-images-v2.1-json-patch';
export const PATCH_V20 = 'application/openstack-images-v2.0-json-patch';
const OPS = ['add', 'remove', 'replace'] as const;

export function assertPatchMediaType(mediaType: string): 'v2.0' | 'v2.1' {
  if (mediaType === PATCH_V21) return 'v2.1';
  if (mediaType === PATCH_V20) return 'v2.0';
  throw new GlintHttpError('UNSUPPORTED_MEDIA_TYPE', `Unsupported Content-Type ${mediaType || '(none)'}`).withHeaders({
    'Accept-Patch': `${PATCH_V20}, ${PATCH_V21}`,
  });
}

const bad = (message: string): never => fail('BAD_REQUEST', message);

export function parsePatchDocument(body: unknown, dialect: 'v2.0' | 'v2.1'): PatchOperation[] {
  if (!Array.isArray(body)) bad('Request body must be a JSON array of operation objects.');
  return (body as unknown[]).map((raw) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad('Operations must be JSON objects.');
    const item = raw as Record<string, unknown>;
    let op: string;
    let path: unknown;
    if (dialect === 'v2.1') {
      op = item.op as string;
      if (!OPS.includes(op as (typeof OPS)[number])) bad(`Operation objects must contain an op of add, remove or replace; got ${JSON.stringify(item.op)}.`);
      if (!('path' in item)) bad('Operation objects must contain a "path" member.');
      path = item.path;
    } else {
      const present = OPS.filter((o) => o in item);
      if (present.length !== 1) bad('Operation objects must contain exactly one of "add", "remove", or "replace".');
      op = present[0];
      path = item[op];
    }
    if (op !== 'remove' && !('value' in item)) bad('Operation objects must contain a "value" member.');
    const { name, position } = parsePointer(path, op);
    const operation: PatchOperation = { op: op as PatchOperation['op'], name, value: item.value, strictAdd: dialect === 'v2.0' && op === 'add' };
    if (position !== undefined) operation.position = position;
    return operation;
  });
}

/**
 * A JSON pointer of depth 1 ("/name"), with ~0/~1 escapes. Deeper paths are refused, except
 * Glance's `/locations/<position>` for add and remove (and only that depth for them).
 */
function parsePointer(path: unknown, op: string): { name: string; position?: string } {
  if (typeof path !== 'string') bad('Operation "path" must be a string.');
  const pointer = path as string;
  if (!pointer.startsWith('/')) bad(`Pointer \`${pointer}\` does not start with "/".`);
  if (pointer.endsWith('/')) bad(`Pointer \`${pointer}\` ends with "/".`);
  const segments = pointer.slice(1).split('/');
  if (segments.some((s) => s.length === 0)) bad(`Pointer \`${pointer}\` contains adjacent "/".`);
  if (/~(?![01])/.test(pointer)) bad(`Pointer \`${pointer}\` contains "~" not part of a recognized escape sequence.`);
  const decoded = segments.map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (decoded[0] === 'locations') {
    if (decoded.length !== (op === 'replace' ? 1 : 2)) bad(`Invalid JSON pointer for this resource: '${pointer}'`);
    return decoded.length === 2 ? { name: 'locations', position: decoded[1] } : { name: 'locations' };
  }
  if (decoded.length !== 1) bad(`Nested paths are not allowed: ${pointer}`);
  return { name: decoded[0] };
}
