import type { Knex } from 'knex';

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

/** One column of an ORDER BY, with the marker row's value in it. */
export interface KeysetColumn {
  column: string;
  dir: 'asc' | 'desc';
  value: string | number | null;
}

export function orderByKeyset(query: Knex.QueryBuilder, keys: readonly KeysetColumn[]): void {
  for (const key of keys) query.orderBy(key.column, key.dir);
}

/**
 * Keeps the rows that come strictly after the marker in the order of `keys`. NULL sorts lowest,
 * which is what both SQLite and MySQL do by default, so the comparisons below treat NULL as
 * smaller than every value: row > marker ⇔ for some i, the first i-1 keys are equal and key i is
 * beyond the marker's in its direction.
 */
export function whereAfterKeyset(query: Knex.QueryBuilder, keys: readonly KeysetColumn[]): void {
  if (keys.length === 0) return;
  query.where((anyBranch) => {
    keys.forEach((key, index) => {
      anyBranch.orWhere((branch) => {
        for (const earlier of keys.slice(0, index)) whereSameAs(branch, earlier);
        whereBeyond(branch, key);
      });
    });
  });
}

function whereSameAs(query: Knex.QueryBuilder, key: KeysetColumn): void {
  if (key.value === null) query.whereNull(key.column);
  else query.where(key.column, key.value);
}

function whereBeyond(query: Knex.QueryBuilder, key: KeysetColumn): void {
  const { column, value } = key;
  if (key.dir === 'asc') {
    if (value === null) query.whereNotNull(column);
    else query.where(column, '>', value);
  } else if (value === null) {
    // Nothing sorts below NULL.
    query.whereRaw('1 = 0');
  } else {
    query.where((below) => below.where(column, '<', value).orWhereNull(column));
  }
}
