import { createHash, randomBytes } from 'node:crypto';

/** 100-ns intervals between the Gregorian reform (1582-10-15) and the Unix epoch. */
const GREGORIAN_OFFSET = 122_192_928_000_000_000n;
let lastTimestamp = 0n;

/**
 * A time-based (version 1) UUID, as imageops' `uuid.uuid1()` makes its requestIds. The node field
 * is random with the multicast bit set (RFC 4122 §4.5: no MAC address is exposed); timestamps
 * never repeat within this process, and the random clock sequence separates processes.
 */
export function uuid1(): string {
  let timestamp = BigInt(Date.now()) * 10_000n + GREGORIAN_OFFSET;
  if (timestamp <= lastTimestamp) timestamp = lastTimestamp + 1n;
  lastTimestamp = timestamp;
  const timeLow = timestamp & 0xffffffffn;
  const timeMid = (timestamp >> 32n) & 0xffffn;
  const timeHigh = ((timestamp >> 48n) & 0x0fffn) | 0x1000n;
  const random = randomBytes(8);
  const clockSeq = (random.readUInt16BE(0) & 0x3fff) | 0x8000;
  random[2] |= 0x01;
  const node = random.subarray(2, 8).toString('hex');
  const hex = (value: bigint | number, width: number) => value.toString(16).padStart(width, '0');
  return `${hex(timeLow, 8)}-${hex(timeMid, 4)}-${hex(timeHigh, 4)}-${hex(clockSeq, 4)}-${node}`;
}

/** A name-based UUID (version 5 layout over SHA-1 of `name`): the same name, the same id, on every node. */
export function uuidFromName(name: string): string {
  const bytes = createHash('sha1').update(`glint-imageops:${name}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A canonical lowercase UUID (what requestIds and image ids look like). */
export function isUuid(text: string): boolean {
  return UUID.test(text);
}
