import type { Knex } from 'knex';
import { isMysql, tableOptions } from './table-options';

/**
 * The algorithm registry (the algoPlatform surface): one row per algorithm image, soft-deleted.
 *
 * - `event_type` is AUTO_INCREMENT on MySQL/MariaDB (a record registered without one gets the
 *   next number, never one used before, deleted records included); SQLite has no auto-increment
 *   outside the primary key, so there the repository takes MAX + 1 in the inserting transaction
 *   (SQLite runs one writer at a time; a lost race is retried).
 * - `live` is 1 for a live record and NULL once it is deleted. Both SQLite and MySQL/MariaDB let
 *   any number of NULLs into a unique index, so the unique indexes on (name, tag, live) and
 *   (event_type, live) hold among live records only: a deleted record frees its name+tag and its
 *   event type, and two nodes registering the same name+tag at once end with one live row (the
 *   other insert fails on the index).
 * - (live, name, tag) serves the searches: a namespace is a range of names (prefix ≤ name <
 *   prefix with its last character incremented); a substring search reads the names of the live
 *   records from this index, not the table, and returns them in order.
 * - Dependencies are rows of algorithm_image_dependencies (the record's own list, in order, by
 *   event type); the (event_type, image_id) index answers "does a live record depend on N" for
 *   the delete guard. `dependency_event_types` keeps the same list as the comma-joined text the
 *   surface shows, so a read needs no join.
 *
 * Free-text columns are TEXT (64 KiB on MySQL); the domain refuses longer values before writing.
 */
export async function up(knex: Knex): Promise<void> {
  const options = await tableOptions(knex);

  await knex.schema.createTable('algorithm_images', (table) => {
    options(table);
    table.string('id', 32).primary();
    table.string('name', 255).notNullable();
    table.string('tag', 128).notNullable();
    table.integer('event_type').notNullable();
    table.string('algo_type', 255).notNullable();
    for (const column of ['ports', 'mounts', 'factory', 'algo_name', 'algo_desc', 'config', 'sub_paths', 'host_paths', 'working_dir', 'env', 'command', 'args']) {
      table.text(column).nullable();
    }
    for (const column of ['pvc_size', 'tv_channel', 'pics', 'cpu_requests', 'gpu_requests', 'mem_requests', 'frame_interval', 'frame_number']) {
      table.integer(column).nullable();
    }
    table.text('dependency_event_types').nullable();
    table.text('incident_id').nullable();
    table.text('useable_flag').nullable();
    table.tinyint('live').nullable().defaultTo(1);
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.bigInteger('deleted_at').nullable();
    table.unique(['name', 'tag', 'live'], { indexName: 'algorithm_images_name_tag_live_uq' });
    table.unique(['event_type', 'live'], { indexName: 'algorithm_images_event_type_live_uq' });
    table.index(['live', 'name', 'tag'], 'algorithm_images_live_name_tag_idx');
  });
  if (isMysql(knex)) {
    // The server numbers records registered without an event type, whatever number of nodes insert at once.
    await knex.raw('ALTER TABLE ?? MODIFY ?? INT NOT NULL AUTO_INCREMENT', ['algorithm_images', 'event_type']);
  }

  await knex.schema.createTable('algorithm_image_dependencies', (table) => {
    options(table);
    table.string('image_id', 32).notNullable().references('algorithm_images.id').onDelete('CASCADE');
    table.integer('position').notNullable();
    table.integer('event_type').notNullable();
    table.primary(['image_id', 'position'], 'algorithm_image_dependencies_pkey');
    table.index(['event_type', 'image_id'], 'algorithm_image_dependencies_event_type_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('algorithm_image_dependencies');
  await knex.schema.dropTableIfExists('algorithm_images');
}
