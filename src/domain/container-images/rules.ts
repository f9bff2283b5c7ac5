import { fail } from '../errors';

/** The rules of the iSulad image store: ids, names, references, digests and big-data keys. */

/** An image id: 64 lowercase hex digits (the config's sha256, without `sha256:`). */
export const ID_PATTERN = /^[a-f0-9]{64}$/;
const HEX = /^[a-f0-9]+$/;
/** What may follow the last `@` of a digest reference (iSulad's digest pattern). */
const DIGEST_REFERENCE = /^[a-z0-9]+:[a-z0-9]{32,}$/;
/** A digest as OCI writes it: `algorithm:encoded`. */
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
/** Big-data keys made only of these are their own file name (§6.1). */
const SAFE_FILE_NAME = /^[.0-9a-z]+$/;
/** Names and keys are stored in columns of these widths. */
const MAX_NAME_LENGTH = 512;
const MAX_FILE_NAME_BYTES = 255;
/** Keys whose file would be the image directory itself, its parent or the record. */
const RESERVED_KEYS = new Set(['.', '..', 'images.json']);

/** The key iSulad stores an image's config under: `sha256:<id>`. */
export function configKey(id: string): string {
  return `sha256:${id}`;
}

/** The big-data key whose digest indexes the image. */
export const MANIFEST_KEY = 'manifest';

export function assertValidId(id: string): void {
  if (!ID_PATTERN.test(id)) fail('CONTAINER_IMAGE_INVALID', `Invalid image id ${JSON.stringify(id)}: it must be 64 lowercase hex digits.`);
}

export function assertValidName(name: string): void {
  if (typeof name !== 'string' || name === '' || name.length > MAX_NAME_LENGTH || name.includes('\0')) {
    fail('CONTAINER_IMAGE_INVALID', `Invalid image name ${JSON.stringify(name)}: names are 1 to ${MAX_NAME_LENGTH} characters.`);
  }
}

export function assertValidDigest(digest: string): void {
  if (!DIGEST.test(digest)) fail('CONTAINER_IMAGE_INVALID', `Invalid digest ${JSON.stringify(digest)}: expected <algorithm>:<hex>.`);
}

/** Names de-duplicated and in byte-wise order, as iSulad stores them. */
export function uniqueSortedNames(names: readonly string[]): string[] {
  for (const name of names) assertValidName(name);
  return [...new Set(names)].sort(compareBytes);
}

export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** A digest-form name: longer than 72 characters, its last 72 starting with `@sha256:`. */
export function isDigestName(name: string): boolean {
  return name.length > 72 && name.slice(-72).startsWith('@sha256:');
}

/** Position of a name's tag separator (a `:` after the last `/`), or -1. */
function tagSeparator(name: string): number {
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? colon : -1;
}

/** `repo:tag` → `repo`; an untagged name is `repo:latest`, so it is `repo` too. */
export function repositoryOf(tagName: string): string {
  const at = tagName.indexOf('@');
  const name = at >= 0 ? tagName.slice(0, at) : tagName;
  const colon = tagSeparator(name);
  return colon >= 0 ? name.slice(0, colon) : name;
}

/**
 * Splits a reference of the form `name@<alg>:<hex≥32>` (after the last `@`); null for anything
 * else, which is then no digest reference.
 */
export function parseDigestReference(ref: string): { name: string; digest: string } | null {
  const at = ref.lastIndexOf('@');
  if (at <= 0) return null;
  const digest = ref.slice(at + 1);
  return DIGEST_REFERENCE.test(digest) ? { name: ref.slice(0, at), digest } : null;
}

/** A reference that may be a prefix of an id (any length, hex only). */
export function isIdPrefix(ref: string): boolean {
  return HEX.test(ref) && ref.length <= 64;
}

/**
 * Whether `ref` (`name@digest`) names an image with these names: one of its tags, in its
 * repository form, followed by `@digest`, is exactly `ref`. So `ubuntu@sha256:X` does not resolve
 * to an image only known as `test:latest`.
 */
export function digestReferenceMatches(ref: { name: string; digest: string }, names: readonly string[]): boolean {
  return names.some((name) => !isDigestName(name) && `${repositoryOf(name)}@${ref.digest}` === `${ref.name}@${ref.digest}`);
}

/** Tag names (not digest-form). */
export function repoTags(names: readonly string[]): string[] {
  return names.filter((name) => !isDigestName(name));
}

/**
 * Digest-form names, then `<repository>@<digest>` for every tag, without duplicates. `digest` is
 * the record's digest or, without one, the manifest's; with neither, only the digest-form names.
 */
export function repoDigests(names: readonly string[], digest: string | null): string[] {
  const result = names.filter(isDigestName);
  if (digest) for (const tag of repoTags(names)) result.push(`${repositoryOf(tag)}@${digest}`);
  return [...new Set(result)];
}

/**
 * The file a big-data key is stored in inside an image directory (§6.1): the key itself when it is
 * made only of `[.0-9a-z]`, otherwise `=` and the padded standard Base64 of its bytes. `.`, `..`
 * and `images.json` would be their own file name yet are the directory, its parent and the record:
 * they are refused as keys (see assertValidBigDataKey), so no key maps onto them.
 */
export function bigDataFileName(key: string): string {
  return SAFE_FILE_NAME.test(key) ? key : '=' + Buffer.from(key, 'utf8').toString('base64');
}

export function assertValidBigDataKey(key: string): void {
  if (typeof key !== 'string' || key === '') fail('CONTAINER_IMAGE_INVALID', 'A big-data key must not be empty.');
  if (RESERVED_KEYS.has(key)) fail('CONTAINER_IMAGE_INVALID', `The big-data key ${JSON.stringify(key)} is reserved by the on-disk layout.`);
  if (key.includes('\0') || Buffer.byteLength(bigDataFileName(key)) > MAX_FILE_NAME_BYTES) {
    fail('CONTAINER_IMAGE_INVALID', `The big-data key ${JSON.stringify(key.slice(0, 64))}… is too long for a file name.`);
  }
}

/** `sha256:<hex>`. */
export function sha256Digest(hex: string): string {
  return `sha256:${hex}`;
}

/**
 * Names as iSulad normalises them when it loads a store: the default registry host prefix, then
 * `library/`, stripped (`docker.io/library/busybox:1` → `busybox:1`).
 */
export function stripDefaultPrefixes(name: string, defaultHost = 'docker.io'): string {
  let stripped = name;
  const host = `${defaultHost}/`;
  if (stripped.startsWith(host) && stripped.length > host.length) stripped = stripped.slice(host.length);
  if (stripped.startsWith('library/') && stripped.length > 'library/'.length) stripped = stripped.slice('library/'.length);
  return stripped;
}
