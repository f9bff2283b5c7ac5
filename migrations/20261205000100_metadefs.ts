import type { Knex } from 'knex';
import { tableOptions } from './table-options';

/**
 * Glance's metadata definitions (the /v2/metadefs API and `glint-manage db load_metadefs`): the
 * tables of Glance's own schema, with glint's millisecond timestamps.
 *
 * - A namespace's name is unique; its objects, properties and tags are unique by name within it,
 *   and their rows go when the namespace goes (ON DELETE CASCADE, and the repository deletes them
 *   explicitly in the same transaction, so a driver without foreign keys behaves the same).
 * - Resource types are shared by every namespace and never deleted with one; an association is
 *   one (namespace, resource type) pair with the prefix and properties target used for it.
 * - Objects and properties keep their JSON schema as text (`json_schema`); an object's required
 *   list is JSON text too. Free text is MEDIUMTEXT on MySQL/MariaDB (TEXT stops at 64 KiB, below
 *   the 1 MiB a request body may carry).
 */
export async function up(knex: Knex): Promise<void> {
  const options = await tableOptions(knex);

  await knex.schema.createTable('metadef_namespaces', (table) => {
    options(table);
    table.increments('id').primary();
    table.string('namespace', 80).notNullable();
    table.string('display_name', 80).nullable();
    table.text('description', 'mediumtext').nullable();
    table.string('visibility', 32).notNullable().defaultTo('private');
    table.boolean('protected').notNullable().defaultTo(false);
    table.string('owner', 255).nullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.unique(['namespace'], { indexName: 'metadef_namespaces_namespace_uq' });
    table.index(['owner'], 'metadef_namespaces_owner_idx');
  });

  for (const [name, extra] of [
    ['metadef_objects', (table: Knex.CreateTableBuilder) => {
      table.text('description', 'mediumtext').nullable();
      table.text('required', 'mediumtext').nullable();
      table.text('json_schema', 'mediumtext').notNullable();
    }],
    ['metadef_properties', (table: Knex.CreateTableBuilder) => {
      table.text('json_schema', 'mediumtext').notNullable();
    }],
    ['metadef_tags', () => {}],
  ] as const) {
    await knex.schema.createTable(name, (table) => {
      options(table);
      table.increments('id').primary();
      table.integer('namespace_id').unsigned().notNullable().references('metadef_namespaces.id').onDelete('CASCADE');
      table.string('name', 80).notNullable();
      extra(table);
      table.bigInteger('created_at').notNullable();
      table.bigInteger('updated_at').notNullable();
      table.unique(['namespace_id', 'name'], { indexName: `${name}_namespace_name_uq` });
    });
  }

  await knex.schema.createTable('metadef_resource_types', (table) => {
    options(table);
    table.increments('id').primary();
    table.string('name', 80).notNullable();
    table.boolean('protected').notNullable().defaultTo(false);
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.unique(['name'], { indexName: 'metadef_resource_types_name_uq' });
  });

  await knex.schema.createTable('metadef_namespace_resource_types', (table) => {
    options(table);
    table.integer('resource_type_id').unsigned().notNullable().references('metadef_resource_types.id');
    table.integer('namespace_id').unsigned().notNullable().references('metadef_namespaces.id').onDelete('CASCADE');
    table.string('properties_target', 80).nullable();
    table.string('prefix', 80).nullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.primary(['namespace_id', 'resource_type_id']);
    table.index(['resource_type_id'], 'metadef_ns_res_types_resource_type_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const name of ['metadef_namespace_resource_types', 'metadef_resource_types', 'metadef_tags', 'metadef_properties', 'metadef_objects', 'metadef_namespaces']) {
    await knex.schema.dropTableIfExists(name);
  }
}
