import fs from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import type { DatabaseConfig } from '../config/types';

const MYSQL_SCHEMES = new Set(['mysql', 'mysql+pymysql', 'mysql+mysqldb', 'mariadb', 'mariadb+pymysql', 'mariadb+mysqldb']);
const DEFAULT_MYSQL_PORT = 3306;
const MYSQL_PREPARED_STATEMENTS = 256;

/**
 * Parses a Glance-style (SQLAlchemy) connection URL:
 * - `sqlite://` and `sqlite:///:memory:` → in-memory database;
 * - `sqlite:///data/glint.db` → `data/glint.db`, relative to the working directory;
 * - `sqlite:////var/lib/glint/glint.db` → the absolute path `/var/lib/glint/glint.db`;
 * - `mysql[+pymysql|+mysqldb]://user:pass@host[:port]/db[?params]` (also `mariadb…`); query
 *   parameters such as Glance's `?charset=utf8` are accepted and ignored — glint always talks utf8mb4.
 * Throws an Error naming the problem for anything else; the password never appears in messages.
 */
export function parseDatabaseUrl(url: string): DatabaseConfig {
  const trimmed = url.trim();
  const schemeEnd = trimmed.indexOf('://');
  if (schemeEnd <= 0) {
    throw new Error(`Database connection URL "${redact(trimmed)}" has no scheme; expected sqlite:///… or mysql+pymysql://…`);
  }
  const scheme = trimmed.slice(0, schemeEnd).toLowerCase();
  if (scheme === 'sqlite') return parseSqliteUrl(trimmed, trimmed.slice(schemeEnd + 3));
  if (MYSQL_SCHEMES.has(scheme)) return parseMysqlUrl(trimmed);
  throw new Error(
    `Unsupported database "${scheme}" in connection URL "${redact(trimmed)}"; glint supports sqlite and mysql (MySQL/MariaDB)`,
  );
}

function parseSqliteUrl(url: string, rest: string): DatabaseConfig {
  if (rest === '') return { client: 'sqlite', filename: ':memory:', url };
  if (!rest.startsWith('/')) {
    throw new Error(`SQLite URL "${url}" names a host; use sqlite:///relative/path.db or sqlite:////absolute/path.db`);
  }
  if (rest.includes('?')) {
    throw new Error(`SQLite URL "${url}" has query parameters, which glint does not support`);
  }
  // After "sqlite://" comes "/" + path: one slash more means the path is absolute.
  const filename = decodeComponent(rest.slice(1), url);
  if (filename === '') {
    throw new Error(`SQLite URL "${url}" has no file name; use sqlite:// for an in-memory database`);
  }
  return { client: 'sqlite', filename, url };
}

function parseMysqlUrl(url: string): DatabaseConfig {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`MySQL connection URL "${redact(url)}" is malformed`);
  }
  const database = decodeComponent(parsed.pathname.replace(/^\//, ''), url);
  if (database === '' || database.includes('/')) {
    throw new Error(`MySQL connection URL "${redact(url)}" must name exactly one database, as in mysql+pymysql://user:pass@host/glance`);
  }
  const user = decodeComponent(parsed.username, url);
  if (user === '') {
    throw new Error(`MySQL connection URL "${redact(url)}" has no user name`);
  }
  let port = DEFAULT_MYSQL_PORT;
  if (parsed.port !== '') {
    port = Number(parsed.port);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new Error(`MySQL connection URL "${redact(url)}" has an invalid port`);
    }
  }
  return {
    client: 'mysql',
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost',
    port,
    user,
    password: decodeComponent(parsed.password, url),
    database,
    url,
  };
}

function decodeComponent(component: string, url: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    throw new Error(`Database connection URL "${redact(url)}" has an invalid percent-encoding`);
  }
}

/** The URL with any password replaced by `***`, for messages and logs. */
export function redact(url: string): string {
  const authorityStart = url.indexOf('://') + 3;
  // The credentials end at the last "@", whatever unescaped characters the password holds.
  const at = url.lastIndexOf('@');
  if (authorityStart < 3 || at < authorityStart) return url;
  const colon = url.indexOf(':', authorityStart);
  if (colon < 0 || colon > at) return url;
  return `${url.slice(0, colon)}:***${url.slice(at)}`;
}

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
