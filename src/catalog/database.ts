import fs from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import type { DatabaseConfig } from '../config/types';

const MYSQL_PREPARED_STATEMENTS = 256;

/** The part of a better-sqlite3 connection used when it is opened. */
interface SqliteConnection {
  pragma(source: string): unknown;
}

/** The part of a mysql2 connection used when it is opened. */
interface MysqlConnection {
  query(sql: string, callback: (err: Error | null) => void): void;
}

/**
 * Builds the Knex instance for `config`. SQLite: better-sqlite3 with foreign keys on and WAL for
 * files (the parent directory is created). MySQL: a mysql2 pool in utf8mb4 whose BIGINT values come
 * back as JS numbers, with a bounded prepared-statement cache and READ COMMITTED sessions so that
 * child-table rewrites of different images do not deadlock on InnoDB gap locks.
 */
export function createKnex(config: DatabaseConfig): Knex {
  if (config.client === 'sqlite') {
    const inMemory = config.filename === ':memory:';
    if (!inMemory) fs.mkdirSync(path.dirname(path.resolve(config.filename)), { recursive: true });
    return knex({
      client: 'better-sqlite3',
      connection: { filename: config.filename },
      useNullAsDefault: true,
      pool: {
        // One connection: better-sqlite3 is synchronous and an in-memory database lives in it.
        min: 1,
        max: 1,
        afterCreate(connection: SqliteConnection, done: (err: Error | null, connection: SqliteConnection) => void) {
          try {
            connection.pragma('foreign_keys = ON');
            connection.pragma('busy_timeout = 5000');
            if (!inMemory) {
              connection.pragma('journal_mode = WAL');
              connection.pragma('synchronous = NORMAL');
            }
            done(null, connection);
          } catch (err) {
            done(err as Error, connection);
          }
        },
      },
    });
  }
  return knex({
    client: 'mysql2',
    connection: {
      host: config.host,
      port: config.port,
      user: config.user,
      password: config.password,
      database: config.database,
      charset: 'utf8mb4',
      supportBigNumbers: true,
      bigNumberStrings: false,
      decimalNumbers: true,
      // Server-side statements that mysql2's execute() keeps per connection (least recently used
      // closed first): enough for the catalog's read shapes, and with a full pool far below the
      // server's max_prepared_stmt_count (16382 by default).
      maxPreparedStatements: MYSQL_PREPARED_STATEMENTS,
    },
    pool: {
      min: 0,
      max: 10,
      afterCreate(connection: MysqlConnection, done: (err: Error | null, connection: MysqlConnection) => void) {
        connection.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', (err) => done(err, connection));
      },
    },
  });
}
