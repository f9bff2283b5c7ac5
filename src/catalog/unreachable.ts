import { GlintError } from '../domain/errors';

/** Error codes of a database that cannot be reached or went away, from mysql2, the OS or better-sqlite3. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'SQLITE_CANTOPEN',
  'SQLITE_IOERR',
]);

/**
 * Whether `err` says the database is out of reach (refused, reset, lost or timed-out connections,
 * a pool that could not hand out a connection in time) rather than that a statement failed.
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, fatal, name, message } = err as { code?: unknown; fatal?: unknown; name?: unknown; message?: unknown };
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('SQLITE_IOERR'))) return true;
  // mysql2 marks errors that end the connection; knex names its pool's acquire timeout
  if (fatal === true || name === 'KnexTimeoutError') return true;
  return typeof message === 'string' && message.includes('connection is in closed state');
}

/**
 * `repository` with every method that returns a promise rejecting with CATALOG_UNAVAILABLE (503)
 * instead of a driver's connection error, so each surface answers "try again later" in its own
 * error body while the database is away. Knex's pool opens new connections on demand, so the
 * first request after the database is back succeeds: nothing needs a restart.
 */
export function guardUnreachable<T extends object>(repository: T): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(repository, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'constructor') return value;
      let wrapper = wrapped.get(property);
      if (!wrapper) {
        const method = value as (...args: unknown[]) => unknown;
        wrapper = (...args: unknown[]) => {
          const result = method.apply(target, args);
          return result instanceof Promise ? result.catch((err: unknown) => Promise.reject(unavailable(err))) : result;
        };
        wrapped.set(property, wrapper);
      }
      return wrapper;
    },
  });
}

function unavailable(err: unknown): unknown {
  if (!isDatabaseUnreachable(err)) return err;
  return new GlintError('CATALOG_UNAVAILABLE', 'The image catalog is unavailable; try again later.', undefined, { cause: err });
}
