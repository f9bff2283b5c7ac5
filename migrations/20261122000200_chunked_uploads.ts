import type { Knex } from 'knex';
import { tableOptions } from './table-options';

/**
 * Resumable chunked uploads: each chunk is staged as its own object in a blob store and the chunks
 * are streamed in order into one object at merge time. `client_key` is the identifier the client
 * chose (EdgeGallery's `identifier`), unique within the `surface` that accepted the upload.
 */
export async function up(knex: Knex): Promise<void> {
  const options = await tableOptions(knex);
  await knex.schema.createTable('chunked_uploads', (table) => {
    options(table);
    table.string('id', 64).primary();
    table.string('surface', 32).notNullable();
    table.string('client_key', 255).nullable();
    table.string('owner', 255).nullable();
    table.string('user_id', 255).nullable();
    table.string('file_name', 255).nullable();
    table.string('store_id', 255).notNullable();
    // Unknown until the client announces or merges them.
    table.integer('total_chunks').nullable();
    table.bigInteger('total_size').nullable();
    table.string('status', 16).notNullable();
    // The image the merge produced.
    table.string('image_id', 64).nullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.bigInteger('expires_at').nullable();
    table.unique(['surface', 'client_key'], { indexName: 'chunked_uploads_surface_client_key_uq' });
    table.index(['status', 'expires_at'], 'chunked_uploads_status_expires_idx');
  });

  await knex.schema.createTable('upload_chunks', (table) => {
    options(table);
    table.string('upload_id', 64).notNullable().references('chunked_uploads.id').onDelete('CASCADE');
    table.integer('chunk_index').notNullable();
    table.string('object_key', 1024).notNullable();
    table.bigInteger('size').notNullable();
    table.string('md5', 32).nullable();
    table.bigInteger('created_at').notNullable();
    table.primary(['upload_id', 'chunk_index'], 'upload_chunks_pkey');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('upload_chunks');
  await knex.schema.dropTableIfExists('chunked_uploads');
}
