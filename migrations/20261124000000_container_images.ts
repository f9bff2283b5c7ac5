import type { Knex } from 'knex';

/**
 * Container images (the iSulad-compatible image-store library) live in `images` too, with their
 * names, attributes and big data in the child tables the first migration made for them.
 *
 * - images.kind tells them apart: 'glance' (the default, so every existing row stays a Glance image)
 *   or 'container'. Glance's reads restrict themselves to 'glance'. Deliberately not indexed: an
 *   index led by `kind` is one SQLite would pick for `kind = 'glance'` over the (created_at, id)
 *   walk of the list, and then sort every Glance image; container images are found through
 *   image_attributes and image_names instead.
 * - image_big_data (name, digest): the digest index finds the images whose `manifest` has a digest.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (table) => {
    table.string('kind', 16).notNullable().defaultTo('glance');
  });
  await knex.schema.alterTable('image_big_data', (table) => {
    table.index(['name', 'digest'], 'image_big_data_name_digest_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  // Container images are not Glance images: they go, with their child rows, before the column does.
  const ids = knex('images').select('id').where('kind', '<>', 'glance');
  for (const table of ['image_big_data', 'image_names', 'image_attributes']) {
    await knex(table).whereIn('image_id', ids).delete();
  }
  await knex('images').where('kind', '<>', 'glance').delete();
  await knex.schema.alterTable('image_big_data', (table) => {
    table.dropIndex([], 'image_big_data_name_digest_idx');
  });
  await knex.schema.alterTable('images', (table) => {
    table.dropColumn('kind');
  });
}
