import type { EpochNanos } from './model';

/**
 * iSulad's time strings: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn±HH:MM` in local time when it writes them;
 * files from other writers use `Z` and fewer digits, which are read as well.
 */

const NANOS_PER_MS = 1_000_000n;
const NANOS_PER_SECOND = 1_000_000_000n;
const TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

export function nanosFromDate(date: Date): EpochNanos {
  return BigInt(date.getTime()) * NANOS_PER_MS;
}

export function dateFromNanos(nanos: EpochNanos): Date {
  return new Date(Number(floorDiv(nanos, NANOS_PER_MS)));
}

export function nowNanos(): EpochNanos {
  return BigInt(Date.now()) * NANOS_PER_MS;
}

/** Parses an iSulad (or RFC 3339) time; null when it is not one. */
export function parseTime(text: string): EpochNanos | null {
  const match = TIME.exec(text);
  if (!match) return null;
  const [, year, month, day, hour, minute, second, fraction = '', zone] = match;
  const utcMs = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second));
  if (!Number.isFinite(utcMs)) return null;
  let offsetMinutes = 0;
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  const seconds = BigInt((utcMs - offsetMinutes * 60_000) / 1000);
  return seconds * NANOS_PER_SECOND + BigInt(fraction.padEnd(9, '0'));
}

/** Formats as iSulad writes: local time of this process, nine fractional digits, numeric offset. */
export function formatTime(nanos: EpochNanos): string {
  const seconds = floorDiv(nanos, NANOS_PER_SECOND);
  const fraction = nanos - seconds * NANOS_PER_SECOND;
  const local = new Date(Number(seconds) * 1000);
  const offset = -local.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return (
    `${pad(local.getFullYear(), 4)}-${pad(local.getMonth() + 1)}-${pad(local.getDate())}` +
    `T${pad(local.getHours())}:${pad(local.getMinutes())}:${pad(local.getSeconds())}` +
    `.${fraction.toString().padStart(9, '0')}${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`
  );
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}
