import type { Knex } from 'knex';

/**
 * Indexes for the image reads that every list and GET does.
 *
 * - The single-column indexes on images.visibility, status and owner become (column, created_at,
 *   id). The old ones matched thousands of rows for one value (there are four visibilities), and
 *   SQLite, lacking statistics, preferred them to the (created_at, id) index and then sorted every
 *   match to return 20; a filter on one of these columns now reads its rows already in the default
 *   list order. Every query that used an old index can use its replacement's prefix.
 * - image_locations (image_id, status): live locations of a batch of images come out of it in
 *   (image_id, id) order — the order they were added — without a sort.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (table) => {
    table.index(['visibility', 'created_at', 'id'], 'images_visibility_created_at_id_idx');
    table.index(['status', 'created_at', 'id'], 'images_status_created_at_id_idx');
    table.index(['owner', 'created_at', 'id'], 'images_owner_created_at_id_idx');
    table.dropIndex([], 'images_visibility_idx');
    table.dropIndex([], 'images_status_idx');
    table.dropIndex([], 'images_owner_idx');
  });
  await knex.schema.alterTable('image_locations', (table) => {
    table.index(['image_id', 'status'], 'image_locations_image_status_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('image_locations', (table) => {
    table.dropIndex([], 'image_locations_image_status_idx');
  });
  await knex.schema.alterTable('images', (table) => {
    table.index(['owner'], 'images_owner_idx');
    table.index(['visibility'], 'images_visibility_idx');
    table.index(['status'], 'images_status_idx');
    table.dropIndex([], 'images_visibility_created_at_id_idx');
    table.dropIndex([], 'images_status_created_at_id_idx');
    table.dropIndex([], 'images_owner_created_at_id_idx');
  });
}
