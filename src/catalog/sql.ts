import type { Knex } from 'knex';
import type { SqlStatement, SqlValue } from './statements';

/**
 * Small SQL helpers shared by the knex repositories: driver error classification, retried
 * transactions, number decoding and keyset pagination. Behaviour is the same on SQLite and MySQL.
 */

/** An integer column as the drivers return it (mysql2 gives strings beyond 2^53). */
export type DbInteger = number | string | bigint;
/** A boolean column as stored: 0/1 (tinyint on MySQL, integer on SQLite). */
export type DbBoolean = number | boolean;

export function toNumber(value: DbInteger): number {
  return typeof value === 'number' ? value : Number(value);
}

export function toNullableNumber(value: DbInteger | null): number | null {
  return value === null ? null : toNumber(value);
}

export function toDate(value: DbInteger): Date {
  return new Date(toNumber(value));
}

export function toNullableDate(value: DbInteger | null): Date | null {
  return value === null ? null : toDate(value);
}

export function toBoolean(value: DbBoolean): boolean {
  return value === true || value === 1;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** A duplicate primary key or unique index value, from either driver. */
export function isUniqueViolation(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ER_DUP_ENTRY' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** A row referencing a parent that does not exist, from either driver. */
export function isForeignKeyViolation(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ER_NO_REFERENCED_ROW_2' || code === 'ER_NO_REFERENCED_ROW' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** Failures where the database rolled the transaction back and running it again is correct. */
function isRetryableConflict(err: unknown): boolean {
  const code = errorCode(err);
  // SQLITE_BUSY and its extended forms (SQLITE_BUSY_SNAPSHOT: another process committed first).
  return code === 'ER_LOCK_DEADLOCK' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY'));
}

const TRANSACTION_ATTEMPTS = 5;

/**
 * Runs `work` in a transaction, running it again from the start when the database aborted it as a
 * deadlock victim (InnoDB) or busy (SQLite). `work` must therefore have no side effects outside
 * the transaction.
 */
export async function inTransaction<T>(knex: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await knex.transaction(work);
    } catch (err) {
      if (attempt >= TRANSACTION_ATTEMPTS || !isRetryableConflict(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, attempt * 10 * Math.random()));
    }
  }
}

/**
 * One column of an ORDER BY, with the marker row's value in it. `column` is SQL text, quoted as
 * both databases read it (backticks).
 */
export interface KeysetColumn {
  column: string;
  dir: 'asc' | 'desc';
  value: string | number | null;
}

/** The ORDER BY list (without the keywords) for `keys`. */
export function keysetOrderBy(keys: readonly KeysetColumn[]): string {
  return keys.map((key) => key.column + (key.dir === 'asc' ? ' ASC' : ' DESC')).join(', ');
}

/**
 * The condition keeping the rows that come strictly after the marker in the order of `keys` (at
 * least one). NULL sorts lowest, which is what both SQLite and MySQL do by default, so the
 * comparisons treat NULL as smaller than every value: row > marker ⇔ for some i, the first i-1
 * keys are equal and key i is beyond the marker's in its direction.
 */
export function afterKeyset(keys: readonly KeysetColumn[]): SqlStatement {
  const branches: string[] = [];
  const bindings: SqlValue[] = [];
  keys.forEach((key, index) => {
    const terms: string[] = [];
    for (const earlier of keys.slice(0, index)) {
      if (earlier.value === null) {
        terms.push(earlier.column + ' IS NULL');
      } else {
        terms.push(earlier.column + ' = ?');
        bindings.push(earlier.value);
      }
    }
    if (key.dir === 'asc') {
      if (key.value === null) {
        terms.push(key.column + ' IS NOT NULL');
      } else {
        terms.push(key.column + ' > ?');
        bindings.push(key.value);
      }
    } else if (key.value === null) {
      // Nothing sorts below NULL.
      terms.push('1 = 0');
    } else {
      terms.push('(' + key.column + ' < ? OR ' + key.column + ' IS NULL)');
      bindings.push(key.value);
    }
    branches.push('(' + terms.join(' AND ') + ')');
  });
  return { sql: '(' + branches.join(' OR ') + ')', bindings };
}
