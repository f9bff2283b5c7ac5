import type { Knex } from 'knex';

/**
 * Hand-written read statements for the hot catalog paths (image get and list), run past knex's
 * query builder and with the driver's statement cache:
 * - SQLite: better-sqlite3 Statement objects, prepared once per SQL text on the one connection
 *   knex's pool holds, in raw (array) mode;
 * - MySQL/MariaDB: mysql2's `execute`, whose per-connection cache keeps server-side prepared
 *   statements, on a connection from knex's pool (or the transaction's own).
 * The SQL is written once for both: backtick-quoted identifiers and `?` placeholders mean the same
 * to both databases.
 */

export type SqlValue = string | number | null;

export interface SqlStatement {
  sql: string;
  bindings: SqlValue[];
}

/** A row as the values of its columns, in the order the statement selects them. */
export type Row = readonly unknown[];

export interface StatementRunner {
  /**
   * Runs a read-only statement and returns its rows. With a transaction the statement runs inside
   * it and sees its uncommitted writes; with the knex instance it sees committed data only, as a
   * knex query would.
   */
  rows(executor: Knex | Knex.Transaction, statement: SqlStatement): Promise<Row[]>;
}

/** `?, ?, …` for `count` values. */
export function placeholders(count: number): string {
  return count === 1 ? '?' : new Array<string>(count).fill('?').join(', ');
}

export function createStatementRunner(knex: Knex): StatementRunner {
  const client = knex.client as KnexClient;
  if (client.driverName === 'better-sqlite3') return new SqliteStatementRunner(knex);
  if (client.driverName === 'mysql2') return new MysqlStatementRunner();
  throw new Error(`The catalog supports the better-sqlite3 and mysql2 drivers, not ${String(client.driverName)}`);
}

/** The parts of knex's client used here (not in knex's public types). */
interface KnexClient {
  driverName?: string;
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<unknown>;
}

function clientOf(executor: Knex | Knex.Transaction): KnexClient {
  return executor.client as KnexClient;
}

interface SqliteStatement {
  raw(toggle: boolean): SqliteStatement;
  all(...bindings: SqlValue[]): unknown[];
}

interface SqliteDatabase {
  readonly open: boolean;
  readonly inTransaction: boolean;
  prepare(sql: string): SqliteStatement;
}

/** Prepared statements kept per connection; the least recently used goes first. */
const SQLITE_STATEMENT_CACHE_SIZE = 200;

class SqliteStatementRunner implements StatementRunner {
  /** knex's only connection (its pool has min = max = 1), once seen. */
  private connection: SqliteDatabase | null = null;
  private statements = new Map<string, SqliteStatement>();

  constructor(private readonly knex: Knex) {}

  async rows(executor: Knex | Knex.Transaction, statement: SqlStatement): Promise<Row[]> {
    if (executor.isTransaction) {
      // The transaction holds the connection; its client hands it over without the pool.
      return this.run((await clientOf(executor).acquireConnection()) as SqliteDatabase, statement);
    }
    const connection = this.connection;
    // better-sqlite3 is synchronous, so the statement runs to completion before anything else
    // touches the connection. Only an open transaction makes it unsafe: its writes are not
    // committed yet (and may never be). Then wait for the pool, as a knex query would.
    if (connection !== null && connection.open && !connection.inTransaction) return this.run(connection, statement);
    const client = clientOf(this.knex);
    const acquired = (await client.acquireConnection()) as SqliteDatabase;
    try {
      return this.run(acquired, statement);
    } finally {
      await client.releaseConnection(acquired);
    }
  }

  private run(connection: SqliteDatabase, statement: SqlStatement): Row[] {
    if (connection !== this.connection) {
      // First use, or the pool replaced the connection: statements belong to the old one.
      this.connection = connection;
      this.statements = new Map();
    }
    let prepared = this.statements.get(statement.sql);
    if (prepared === undefined) {
      prepared = connection.prepare(statement.sql).raw(true);
      if (this.statements.size >= SQLITE_STATEMENT_CACHE_SIZE) {
        this.statements.delete(this.statements.keys().next().value as string);
      }
    } else {
      this.statements.delete(statement.sql);
    }
    this.statements.set(statement.sql, prepared);
    return prepared.all(...statement.bindings) as Row[];
  }
}

interface MysqlConnection {
  execute(
    options: { sql: string; rowsAsArray: boolean },
    values: unknown[],
    callback: (err: Error | null, rows: unknown) => void,
  ): void;
}

class MysqlStatementRunner implements StatementRunner {
  // Loaded here, not at the top: a SQLite process never needs mysql2 (~7 MB resident), and knex
  // itself loads a driver only for the client it runs.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  private readonly typed = (require('mysql2') as typeof import('mysql2')).TypedParameter;

  async rows(executor: Knex | Knex.Transaction, statement: SqlStatement): Promise<Row[]> {
    // A transaction's client returns the transaction's connection and never releases it.
    const client = clientOf(executor);
    const connection = (await client.acquireConnection()) as MysqlConnection;
    try {
      // mysql2 sends a JS number as DOUBLE, which MySQL 8.0.22+ rejects for LIMIT; the numbers
      // here are integers for integer columns, so they go as BIGINT.
      const values = statement.bindings.map((value) =>
        typeof value === 'number' && Number.isSafeInteger(value) ? this.typed.BIGINT(value) : value,
      );
      return await new Promise<Row[]>((resolve, reject) => {
        connection.execute({ sql: statement.sql, rowsAsArray: true }, values, (err, rows) => {
          if (err) reject(err);
          else resolve(rows as Row[]);
        });
      });
    } finally {
      await client.releaseConnection(connection);
    }
  }
}
