import type { Knex } from 'knex';

/**
 * images.children: the image's properties, tags and live locations as one JSON document, written
 * in the same transaction as every change to those tables (the tables stay the source of truth and
 * what filters and joins use). A read then costs one statement and no per-row subqueries. NULL
 * means "not written yet" (rows from before this migration): readers fall back to the tables, and
 * the next change to the image fills it in. LONGTEXT on MySQL: 128 properties of up to 64 KiB
 * each do not fit a TEXT.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (table) => {
    table.text('children', 'longtext').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (table) => {
    table.dropColumn('children');
  });
}
