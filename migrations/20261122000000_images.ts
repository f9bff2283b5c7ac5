import type { Knex } from 'knex';
import { tableOptions } from './table-options';

/**
 * The image catalog shared by every surface. Timestamps are BIGINT epoch milliseconds so that
 * SQLite and MySQL store, compare and return them identically. Child tables reference images with
 * ON DELETE CASCADE; images themselves are soft-deleted (`deleted` = 1) so their ids stay reserved.
 */
export async function up(knex: Knex): Promise<void> {
  const options = await tableOptions(knex);

  await knex.schema.createTable('images', (table) => {
    options(table);
    // 36-char UUIDs for Glance, 64-hex ids for OCI-style surfaces.
    table.string('id', 64).primary();
    table.string('name', 255).nullable();
    table.string('status', 32).notNullable();
    table.string('visibility', 16).notNullable();
    table.boolean('protected').notNullable().defaultTo(false);
    table.boolean('os_hidden').notNullable().defaultTo(false);
    table.string('checksum', 32).nullable();
    table.string('os_hash_algo', 64).nullable();
    table.string('os_hash_value', 128).nullable();
    table.string('owner', 255).nullable();
    table.bigInteger('size').nullable();
    table.bigInteger('virtual_size').nullable();
    table.integer('min_ram').notNullable().defaultTo(0);
    table.integer('min_disk').notNullable().defaultTo(0);
    table.string('container_format', 32).nullable();
    table.string('disk_format', 32).nullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.bigInteger('deleted_at').nullable();
    table.boolean('deleted').notNullable().defaultTo(false);
    table.integer('revision').notNullable().defaultTo(1);
    table.index(['owner'], 'images_owner_idx');
    table.index(['visibility'], 'images_visibility_idx');
    table.index(['status'], 'images_status_idx');
    table.index(['created_at', 'id'], 'images_created_at_id_idx');
    table.index(['updated_at', 'id'], 'images_updated_at_id_idx');
    table.index(['name'], 'images_name_idx');
    table.index(['checksum'], 'images_checksum_idx');
    table.index(['os_hash_value'], 'images_os_hash_value_idx');
  });

  // User-visible custom properties (Glance's extra properties).
  await knex.schema.createTable('image_properties', (table) => {
    options(table);
    table.string('image_id', 64).notNullable().references('images.id').onDelete('CASCADE');
    table.string('name', 255).notNullable();
    table.text('value').notNullable();
    table.primary(['image_id', 'name'], 'image_properties_pkey');
    table.index(['name'], 'image_properties_name_idx');
  });

  // Internal per-surface extension attributes (EdgeGallery fileName/userId/slim state, algoPlatform
  // fields, iSulad metadata…), keyed by a surface namespace; never rendered by the Glance API.
  await knex.schema.createTable('image_attributes', (table) => {
    options(table);
    table.string('image_id', 64).notNullable().references('images.id').onDelete('CASCADE');
    table.string('namespace', 64).notNullable();
    table.string('name', 255).notNullable();
    table.text('value').notNullable();
    table.primary(['image_id', 'namespace', 'name'], 'image_attributes_pkey');
    table.index(['namespace', 'name'], 'image_attributes_namespace_name_idx');
  });

  await knex.schema.createTable('image_tags', (table) => {
    options(table);
    table.string('image_id', 64).notNullable().references('images.id').onDelete('CASCADE');
    table.string('value', 255).notNullable();
    table.primary(['image_id', 'value'], 'image_tags_pkey');
    table.index(['value'], 'image_tags_value_idx');
  });

  // Where the data lives; an image may have copies in several stores. Only `active` rows are live.
  await knex.schema.createTable('image_locations', (table) => {
    options(table);
    table.increments('id');
    table.string('image_id', 64).notNullable().references('images.id').onDelete('CASCADE');
    table.string('store_id', 255).notNullable();
    table.string('object_key', 1024).notNullable();
    table.text('metadata').notNullable();
    table.string('status', 32).notNullable();
    table.bigInteger('created_at').notNullable();
    table.index(['image_id', 'store_id'], 'image_locations_image_store_idx');
    table.index(['store_id'], 'image_locations_store_idx');
  });

  await knex.schema.createTable('image_members', (table) => {
    options(table);
    table.string('image_id', 64).notNullable().references('images.id').onDelete('CASCADE');
    table.string('member', 255).notNullable();
    table.string('status', 16).notNullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.primary(['image_id', 'member'], 'image_members_pkey');
    table.index(['member', 'status'], 'image_members_member_status_idx');
  });

  // Unique references per namespace: OCI `repo:tag` names, algoPlatform `name:tag` and eventType…
  await knex.schema.createTable('image_names', (table) => {
    options(table);
    table.string('namespace', 64).notNullable();
    table.string('name', 512).notNullable();
    table.string('image_id', 64).notNullable().references('images.id').onDelete('CASCADE');
    table.bigInteger('created_at').notNullable();
    table.primary(['namespace', 'name'], 'image_names_pkey');
    table.index(['image_id'], 'image_names_image_idx');
  });

  // Keyed blobs per image (iSulad "big data": manifest, config…), in insertion `position` order.
  await knex.schema.createTable('image_big_data', (table) => {
    options(table);
    table.string('image_id', 64).notNullable().references('images.id').onDelete('CASCADE');
    table.string('name', 255).notNullable();
    table.string('store_id', 255).notNullable();
    table.string('object_key', 1024).notNullable();
    table.bigInteger('size').notNullable();
    table.string('digest', 255).nullable();
    table.integer('position').notNullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.primary(['image_id', 'name'], 'image_big_data_pkey');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'image_big_data',
    'image_names',
    'image_members',
    'image_locations',
    'image_tags',
    'image_attributes',
    'image_properties',
    'images',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
