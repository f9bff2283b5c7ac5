import crypto from 'node:crypto';
import knex from 'knex';
import { KnexCatalog } from '../../src/catalog/knex-catalog';
import { parseDatabaseUrl } from '../../src/config/database-url';
import type { DatabaseConfig } from '../../src/config/types';

/**
 * A throw-away MySQL/MariaDB database for tests. The server defaults to root without a password
 * on 127.0.0.1:3306 and can be moved with GLINT_TEST_MYSQL_HOST/PORT/USER/PASSWORD. There is no
 * skipping: an unreachable server fails the run.
 */
export interface TestDatabase {
  config: Extract<DatabaseConfig, { client: 'mysql' }>;
  drop(): Promise<void>;
}

export function mysqlTestServer(): { host: string; port: number; user: string; password: string } {
  return {
    host: process.env.GLINT_TEST_MYSQL_HOST ?? '127.0.0.1',
    port: Number(process.env.GLINT_TEST_MYSQL_PORT ?? 3306),
    user: process.env.GLINT_TEST_MYSQL_USER ?? 'root',
    password: process.env.GLINT_TEST_MYSQL_PASSWORD ?? '',
  };
}

/** Creates an empty database named glint_test_<pid>_<random>; `drop()` removes it again. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const server = mysqlTestServer();
  const database = `glint_test_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const admin = knex({ client: 'mysql2', connection: { ...server, charset: 'utf8mb4' }, pool: { min: 0, max: 1 } });
  try {
    await admin.raw('CREATE DATABASE ?? CHARACTER SET utf8mb4', [database]);
  } catch (err) {
    throw new Error(
      `Cannot create the test database on MySQL at ${server.host}:${server.port} as ${server.user} ` +
        `(set GLINT_TEST_MYSQL_HOST/PORT/USER/PASSWORD): ${(err as Error).message}`,
      { cause: err },
    );
  } finally {
    await admin.destroy();
  }
  const credentials = server.password === '' ? encodeURIComponent(server.user) : `${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}`;
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  return {
    config: {
      client: 'mysql',
      ...server,
      database,
      url: `mysql+pymysql://${credentials}@${host}:${server.port}/${database}`,
    },
    async drop() {
      const dropper = knex({ client: 'mysql2', connection: { ...server }, pool: { min: 0, max: 1 } });
      try {
        await dropper.raw('DROP DATABASE IF EXISTS ??', [database]);
      } finally {
        await dropper.destroy();
      }
    },
  };
}

export interface MigratedCatalog {
  readonly database: TestDatabase;
  readonly catalog: KnexCatalog;
  /** Deletes every row of `tables`, in order (children before their parents). */
  empty(tables: readonly string[]): Promise<void>;
}

/**
 * Hooks on the enclosing describe: one throw-away database, migrated, with a catalog open on it
 * for all its tests (creating and migrating one per test is slow), closed and dropped afterwards.
 */
export function useMigratedCatalog(): MigratedCatalog {
  const fixture = {
    async empty(tables: readonly string[]) {
      for (const table of tables) await fixture.catalog.knex(table).delete();
    },
  } as { database: TestDatabase; catalog: KnexCatalog; empty(tables: readonly string[]): Promise<void> };
  before(async () => {
    fixture.database = await createTestDatabase();
    fixture.catalog = await KnexCatalog.open(parseDatabaseUrl(fixture.database.config.url));
    await fixture.catalog.migrate();
  });
  after(async () => {
    await (fixture as Partial<MigratedCatalog>).catalog?.close();
    await (fixture as Partial<MigratedCatalog>).database?.drop();
  });
  return fixture;
}
