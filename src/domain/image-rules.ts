import { fail } from './errors';

/**
 * Rules on image values that hold whatever surface wrote them: id shape, tag and property-key
 * limits of the catalog, minimums, and the 3-byte UTF-8 limit of the database.
 */

export const UUID_PATTERN = /^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$/;
const MAX_INT32 = 2147483647;

const FOUR_BYTE_UTF8 = /[\u{10000}-\u{10FFFF}]/u;

const invalid = (message: string): never => fail('BAD_REQUEST', message);

export function validateTag(tag: unknown): asserts tag is string {
  if (typeof tag !== 'string') invalid(`Invalid tag: ${JSON.stringify(tag)} is not of type 'string'`);
  if (Buffer.byteLength(tag as string, 'utf8') > 255) invalid(`Invalid tag: ${JSON.stringify(tag)} is too long (255 bytes at most)`);
}

export function validatePropertyKey(key: string): void {
  if (key.length > 255) invalid(`Property key ${JSON.stringify(key.slice(0, 40))}… is longer than 255 characters`);
  // JavaScript objects cannot hold this key as data; refusing it beats silently dropping it.
  if (key === '__proto__') invalid('Property key "__proto__" is not supported');
}

/** min_ram / min_disk bounds, checked after authorization as Glance does. */
export function validateMinimum(name: string, value: number): void {
  if (value < 0) invalid(`Cannot set ${name} to a negative value: ${value}`);
  if (value > MAX_INT32) invalid(`${name} must be at most ${MAX_INT32}`);
}

/** Glance's database is utf8 (3-byte): characters beyond the BMP are refused everywhere. */
export function rejectFourByteCharacters(values: Iterable<unknown>): void {
  for (const value of values) {
    if (typeof value === 'string' && FOUR_BYTE_UTF8.test(value)) invalid('4 byte unicode characters are not supported');
    if (Array.isArray(value)) rejectFourByteCharacters(value);
  }
}
