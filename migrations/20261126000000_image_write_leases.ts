import type { Knex } from 'knex';

/**
 * Leases on image data writes. A write that reserves an image (saving for PUT /file, uploading for
 * PUT /stage, later chunk merges) records a holder token and an expiry (epoch ms) in the reserving
 * conditional update, renews the expiry while the bytes stream, and clears both when it commits or
 * releases. An image in saving or uploading whose lease has expired was left by a node that died
 * or stalled: the reconciler puts it back to queued. A staged image rests in uploading with no
 * lease and is never touched. The (status, write_lease_expires_at) index finds expired writes
 * without reading the images that hold none.
 *
 * Rows written before this migration carry no lease: images in saving, and in uploading with no
 * size (a stage that never committed), get one that expires ten minutes after the migration ran,
 * so an upload an older node had in flight may still finish and a crashed one is recovered.
 */
const ADOPTED_LEASE_MS = 10 * 60_000;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (table) => {
    table.string('write_lease_holder', 64).nullable();
    table.bigInteger('write_lease_expires_at').nullable();
    table.index(['status', 'write_lease_expires_at'], 'images_status_write_lease_idx');
  });
  const adopted = { write_lease_holder: 'adopted-by-migration', write_lease_expires_at: Date.now() + ADOPTED_LEASE_MS };
  await knex('images').where({ status: 'saving', deleted: false }).update(adopted);
  await knex('images').where({ status: 'uploading', deleted: false }).whereNull('size').update(adopted);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('images', (table) => {
    table.dropIndex([], 'images_status_write_lease_idx');
  });
  await knex.schema.alterTable('images', (table) => {
    table.dropColumn('write_lease_expires_at');
    table.dropColumn('write_lease_holder');
  });
}
