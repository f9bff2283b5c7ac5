import { fail } from '../errors';
import type { Image } from '../image';

/** A location's `validation_data`, in Glance's field names. */
export interface ValidationData {
  checksum?: string;
  os_hash_algo?: string;
  os_hash_value?: string;
}

/** The image attributes validation data sets. */
export interface ValidatedHashes {
  checksum?: string;
  osHashAlgo?: string;
  osHashValue?: string;
}

/** Bytes of a digest, for the algorithms the locations API names. */
const DIGEST_BYTES: Readonly<Record<string, number>> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

/** Bytes of the hex text, or null when it is not hexadecimal (Python's bytearray.fromhex). */
function hexBytes(text: string): number | null {
  const compact = text.replace(/ /g, '');
  return /^(?:[0-9a-fA-F]{2})*$/.test(compact) ? compact.length / 2 : null;
}

/**
 * `POST /v2/images/{id}/locations`: an `os_hash_value` must be hexadecimal and as long as a digest
 * of its `os_hash_algo` (default: `hashing_algorithm`), else 400 — before anything is queued.
 */
export function checkHashingData(data: ValidationData, hashingAlgorithm: string): void {
  if (data.os_hash_value === undefined) return;
  const bytes = hexBytes(data.os_hash_value);
  if (bytes === null) fail('BAD_REQUEST', `os_hash_value (${data.os_hash_value}) is not a valid hexadecimal value`);
  const algo = data.os_hash_algo ?? hashingAlgorithm;
  const want = DIGEST_BYTES[algo];
  if (want !== undefined && bytes !== want) {
    fail('BAD_REQUEST', `os_hash_value: (${data.os_hash_value}) is not the correct size for (${algo}) (should be (${want}) bytes)`);
  }
}

/**
 * The PATCH forms (add / replace of /locations): the validation data of every location must agree
 * (409), may repeat what the image already has, and may set new values only on a queued image, with
 * `os_hash_algo` equal to `hashing_algorithm` and well-formed digests (409) — Glance 25.1's checks in
 * its order. Returns the attributes to set when the image goes active.
 */
export function newValidationValues(image: Image, entries: ReadonlyArray<{ validationData?: ValidationData }>, hashingAlgorithm: string): ValidatedHashes {
  const merged: Record<string, string> = {};
  for (const entry of entries) {
    for (const [key, value] of Object.entries(entry.validationData ?? {})) {
      if (value === undefined) continue;
      if (key in merged && merged[key] !== value) fail('IMAGE_INVALID_STATUS', `Conflicting values for ${key}`);
      merged[key] = value;
    }
  }
  const current: Record<string, string | null> = { checksum: image.checksum, os_hash_algo: image.osHashAlgo, os_hash_value: image.osHashValue };
  const fresh: Record<string, string> = {};
  for (const [key, value] of Object.entries(merged)) {
    if (value === current[key]) continue;
    if (current[key]) fail('IMAGE_INVALID_STATUS', `${key} is already set with a different value`);
    fresh[key] = value;
  }
  if (Object.keys(fresh).length === 0) return {};
  if (image.status !== 'queued') fail('IMAGE_INVALID_STATUS', `New value(s) for ${Object.keys(fresh).join(', ')} may only be provided when image status is 'queued'`);
  if (fresh.checksum !== undefined) {
    const bytes = hexBytes(fresh.checksum);
    if (bytes === null) fail('IMAGE_INVALID_STATUS', `checksum (${fresh.checksum}) is not a valid hexadecimal value`);
    if (bytes !== 16) fail('IMAGE_INVALID_STATUS', `checksum (${fresh.checksum}) is not the correct size for md5 (should be 16 bytes)`);
  }
  const algo = fresh.os_hash_algo;
  if (algo !== hashingAlgorithm) fail('IMAGE_INVALID_STATUS', `os_hash_algo must be ${hashingAlgorithm}, not ${algo ?? 'None'}`);
  const value = fresh.os_hash_value ?? '';
  const bytes = hexBytes(value);
  if (bytes === null) fail('IMAGE_INVALID_STATUS', `os_hash_value (${value}) is not a valid hexadecimal value`);
  if (bytes !== DIGEST_BYTES[algo]) {
    fail('IMAGE_INVALID_STATUS', `os_hash_value (${value}) is not the correct size for ${algo} (should be ${DIGEST_BYTES[algo]} bytes)`);
  }
  return { checksum: fresh.checksum, osHashAlgo: algo, osHashValue: value };
}
