import type { Knex } from 'knex';
import { migrationSource } from '../../migrations';
import type { DatabaseConfig } from '../config/types';
import { createKnex } from './database';
import { KnexAlgorithmRepository } from './knex-algorithms';
import { KnexChunkedUploadRepository } from './knex-chunked-uploads';
import { KnexContainerImageRepository } from './knex-container-images';
import { KnexImageRepository } from './knex-images';
import { KnexMemberRepository } from './knex-members';
import { KnexMetadefRepository } from './knex-metadefs';
import { KnexTaskRepository } from './knex-tasks';
import { guardUnreachable } from './unreachable';
import type { Catalog } from '../domain/repositories';

/** How long migrate() waits for another node that holds the migration lock. */
const MIGRATION_LOCK_WAIT_MS = 60_000;
const MIGRATION_LOCK_POLL_MS = 500;

/** The catalog on SQLite or MySQL/MariaDB through one knex instance, which it owns. */
export class KnexCatalog implements Catalog {
  readonly images: KnexImageRepository;
  readonly members: KnexMemberRepository;
  readonly tasks: KnexTaskRepository;
  readonly algorithms: KnexAlgorithmRepository;
  readonly containerImages: KnexContainerImageRepository;
  readonly metadefs: KnexMetadefRepository;
  readonly chunkedUploads: KnexChunkedUploadRepository;

  constructor(readonly knex: Knex) {
    // a database out of reach is CATALOG_UNAVAILABLE (503), whichever repository met it
    this.images = guardUnreachable(new KnexImageRepository(knex));
    this.members = guardUnreachable(new KnexMemberRepository(knex));
    this.tasks = guardUnreachable(new KnexTaskRepository(knex));
    this.algorithms = guardUnreachable(new KnexAlgorithmRepository(knex));
    this.containerImages = guardUnreachable(new KnexContainerImageRepository(knex));
    this.metadefs = guardUnreachable(new KnexMetadefRepository(knex));
    this.chunkedUploads = guardUnreachable(new KnexChunkedUploadRepository(knex));
  }

  /** Connects and checks the database answers; does not migrate. */
  static async open(config: DatabaseConfig): Promise<KnexCatalog> {
    const catalog = new KnexCatalog(createKnex(config));
    try {
      await catalog.ping();
    } catch (err) {
      await catalog.close();
      throw err;
    }
    return catalog;
  }

  /** Runs pending migrations; when several nodes start together, the others wait for the one migrating. */
  async migrate(): Promise<void> {
    const deadline = Date.now() + MIGRATION_LOCK_WAIT_MS;
    for (;;) {
      try {
        await this.knex.migrate.latest({ migrationSource });
        return;
      } catch (err) {
        if (!(err instanceof Error && err.name === 'MigrationLocked') || Date.now() >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, MIGRATION_LOCK_POLL_MS));
      }
    }
  }

  /** Names of the migrations not applied yet (a read-only opener checks this instead of migrating). */
  async pendingMigrations(): Promise<string[]> {
    const [, pending] = (await this.knex.migrate.list({ migrationSource })) as [unknown, Array<{ name: string } | string>];
    return pending.map((migration) => (typeof migration === 'string' ? migration : migration.name));
  }

  /** Names of the migrations applied (oldest first) and of those still to apply. */
  async migrationStatus(): Promise<{ applied: string[]; pending: string[] }> {
    const [completed, pending] = (await this.knex.migrate.list({ migrationSource })) as [Array<{ name: string } | string>, Array<{ name: string } | string>];
    const name = (migration: { name: string } | string) => (typeof migration === 'string' ? migration : migration.name);
    return { applied: completed.map(name), pending: pending.map(name) };
  }

  /** Reverts every migration (drops all catalog tables). For tests and operators only. */
  async rollbackAll(): Promise<void> {
    await this.knex.migrate.rollback({ migrationSource }, true);
  }

  async ping(): Promise<void> {
    await this.knex.raw('select 1');
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }
}
