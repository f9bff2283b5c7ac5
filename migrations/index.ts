import type { Knex } from 'knex';
import * as images from './20261122000000_images';
import * as tasks from './20261122000100_tasks';
import * as chunkedUploads from './20261122000200_chunked_uploads';
import * as imageReadIndexes from './20261122000300_image_read_indexes';
import * as imageChildren from './20261122000400_image_children';
import * as containerImages from './20261124000000_container_images';
import * as algorithmImages from './20261125000000_algorithm_images';
import * as imageWriteLeases from './20261126000000_image_write_leases';
import * as metadefs from './20261205000100_metadefs';

export interface CatalogMigration extends Knex.Migration {
  /** Recorded in knex_migrations; never rename a migration that has shipped. */
  name: string;
}

/**
 * Every migration in the order it runs. Listed explicitly instead of discovered on disk so the
 * same code works under tsx and compiled into dist/. Append new migrations at the end.
 */
export const migrations: readonly CatalogMigration[] = [
  { name: '20261122000000_images', up: images.up, down: images.down },
  { name: '20261122000100_tasks', up: tasks.up, down: tasks.down },
  { name: '20261122000200_chunked_uploads', up: chunkedUploads.up, down: chunkedUploads.down },
  { name: '20261122000300_image_read_indexes', up: imageReadIndexes.up, down: imageReadIndexes.down },
  { name: '20261122000400_image_children', up: imageChildren.up, down: imageChildren.down },
  { name: '20261124000000_container_images', up: containerImages.up, down: containerImages.down },
  { name: '20261125000000_algorithm_images', up: algorithmImages.up, down: algorithmImages.down },
  { name: '20261126000000_image_write_leases', up: imageWriteLeases.up, down: imageWriteLeases.down },
  { name: '20261205000100_metadefs', up: metadefs.up, down: metadefs.down },
];

export const migrationSource: Knex.MigrationSource<CatalogMigration> = {
  getMigrations: async () => [...migrations],
  getMigrationName: (migration) => migration.name,
  getMigration: async (migration) => migration,
};
