import type { DatabaseConfig } from './types';

const MYSQL_SCHEMES = new Set(['mysql', 'mysql+pymysql', 'mysql+mysqldb', 'mariadb', 'mariadb+pymysql', 'mariadb+mysqldb']);
const DEFAULT_MYSQL_PORT = 3306;

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
