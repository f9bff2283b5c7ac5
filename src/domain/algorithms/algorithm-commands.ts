import type { GlintError } from '../errors';
import type { AlgorithmImage } from './algorithm';

/**
 * Typed commands the algorithm service takes. A surface builds them from its own wire format;
 * values are as the caller sent them (the service validates them by the registry's rules).
 */

/** The fields a caller supplies for a record; `dependencies` is `name:tag[,name:tag…]` text. */
export type AlgorithmFields = Omit<AlgorithmImage, 'id' | 'eventType' | 'dependsOn'> & {
  /** Kept when > 0; otherwise the registry assigns the next free number. */
  eventType: number | null;
  dependencies: string | null;
};

export type RegisterAlgorithm = AlgorithmFields;

/** Replaces the writable fields of record `id`; null, empty and 0 values leave a field unchanged. */
export type UpdateAlgorithm = AlgorithmFields & { id: string };

/** Who deletes: the platform user module's authority level and namespace. */
export interface AlgorithmCaller {
  authority: string;
  namespace: string | null;
}

export interface DeleteAlgorithm {
  id: string;
  caller: AlgorithmCaller;
}

/** Both filters are literal and case-sensitive; null or empty = no filter. */
export interface SearchAlgorithms {
  namePrefix: string | null;
  nameContains: string | null;
}

/** An import entry the surface could not turn into a command (missing or mistyped fields). */
export interface RejectedEntry {
  rejected: true;
  name: string | null;
  tag: string | null;
  reason: GlintError;
}

export type ImportEntry = RegisterAlgorithm | RejectedEntry;

export function isRejectedEntry(entry: ImportEntry): entry is RejectedEntry {
  return (entry as RejectedEntry).rejected === true;
}

/** One failed import entry: its name and tag as given, and why. */
export interface ImportFailure {
  name: string | null;
  tag: string | null;
  reason: GlintError;
}

/** Export entries: each record with its dependencies as `name:tag` text (null when none resolves). */
export interface ExportedAlgorithm {
  image: AlgorithmImage;
  dependencies: string | null;
}
