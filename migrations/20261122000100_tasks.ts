import type { Knex } from 'knex';
import { tableOptions } from './table-options';

/**
 * Background jobs: Glance import tasks and other work (imageops check/compress…). A node runs a
 * task while it holds the lease (`claimed_by` until `lease_expires_at`); an expired lease lets any
 * node take the task over. `image_id` has no foreign key: a task's record outlives its image.
 */
export async function up(knex: Knex): Promise<void> {
  const options = await tableOptions(knex);
  await knex.schema.createTable('tasks', (table) => {
    options(table);
    table.string('id', 64).primary();
    table.string('type', 64).notNullable();
    table.string('status', 16).notNullable();
    table.string('owner', 255).nullable();
    table.string('image_id', 64).nullable();
    table.string('request_id', 255).nullable();
    table.string('user_id', 255).nullable();
    table.text('input', 'mediumtext').notNullable();
    table.text('result', 'mediumtext').nullable();
    table.text('message').notNullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.bigInteger('expires_at').nullable();
    table.boolean('deleted').notNullable().defaultTo(false);
    table.bigInteger('deleted_at').nullable();
    table.string('claimed_by', 255).nullable();
    table.bigInteger('lease_expires_at').nullable();
    table.index(['status', 'type', 'created_at'], 'tasks_status_type_created_idx');
    table.index(['owner'], 'tasks_owner_idx');
    table.index(['image_id'], 'tasks_image_idx');
    table.index(['created_at', 'id'], 'tasks_created_at_id_idx');
    table.index(['updated_at', 'id'], 'tasks_updated_at_id_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('tasks');
}
