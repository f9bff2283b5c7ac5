import { fail } from './errors';

/** How many times an edit is re-applied on a fresh read before the caller is told to retry. */
export const CONFLICT_ATTEMPTS = 8;

/**
 * Runs `attempt` until it returns a result. An attempt returns null when its conditional update
 * lost a race (someone else changed the row between its read and its write); it is then run again
 * on a fresh read, at most `CONFLICT_ATTEMPTS` times in all, after which the caller gets a 409.
 */
export async function retryOnConflict<T>(what: string, attempt: () => Promise<T | null>): Promise<T> {
  for (let i = 0; i < CONFLICT_ATTEMPTS; i++) {
    const result = await attempt();
    if (result !== null) return result;
  }
  fail('IMAGE_UPDATE_CONFLICT', `${what} kept conflicting with concurrent changes; try again.`);
}
