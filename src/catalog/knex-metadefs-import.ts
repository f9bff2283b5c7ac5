import type { Knex } from 'knex';
import type { NamespaceContents, NewNamespace } from '../domain/metadefs/model';
import type { ImportMode } from '../domain/metadefs/repository';
import { duplicateMessage, insertId, namespaceColumns, objectColumns, propertyColumns, T, writeRow } from './knex-metadefs-rows';
import { isUniqueViolation } from './sql';

/** Writes shared by a namespace create, an association create and the loader, inside one transaction. */

/**
 * The id of resource type `name`, created when unknown (`seeded`: protected, as the loader makes
 * them; the API creates unprotected ones). A concurrent creator's row is used when it wins.
 */
async function resourceTypeId(trx: Knex, name: string, now: number, seeded: boolean): Promise<number> {
  const found = (await trx(T.resourceTypes).first('id').where({ name })) as { id: number } | undefined;
  if (found) return Number(found.id);
  try {
    return await insertId(trx, T.resourceTypes, { name, protected: seeded, created_at: now, updated_at: now });
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const winner = (await trx(T.resourceTypes).first('id').where({ name })) as { id: number };
    return Number(winner.id);
  }
}

/** Inserts every item of `contents` into namespace `namespaceId`; a duplicate is METADEF_EXISTS. */
export async function insertContents(
  trx: Knex,
  namespaceId: number,
  namespace: string,
  contents: NamespaceContents,
  options: { now: number; seededResourceTypes: boolean },
): Promise<void> {
  const stamp = { created_at: options.now, updated_at: options.now };
  for (const [index, association] of contents.resourceTypeAssociations.entries()) {
    const typeId = await resourceTypeId(trx, association.name, options.now, options.seededResourceTypes);
    // associations are listed by creation time (their table has no sequence): one millisecond
    // apart, they keep the order the request or file gave, as Glance shows them
    const at = options.now + index;
    await writeRow(
      () => trx(T.associations).insert({ namespace_id: namespaceId, resource_type_id: typeId, prefix: association.prefix, properties_target: association.propertiesTarget, created_at: at, updated_at: at }),
      () => duplicateMessage(T.associations, association.name, namespace),
    );
  }
  for (const property of contents.properties) {
    await writeRow(() => trx(T.properties).insert({ namespace_id: namespaceId, ...propertyColumns(property), ...stamp }), () => duplicateMessage(T.properties, property.name, namespace));
  }
  for (const object of contents.objects) {
    await writeRow(() => trx(T.objects).insert({ namespace_id: namespaceId, ...objectColumns(object), ...stamp }), () => duplicateMessage(T.objects, object.name, namespace));
  }
  for (const tag of contents.tags) {
    await writeRow(() => trx(T.tags).insert({ namespace_id: namespaceId, name: tag, ...stamp }), () => duplicateMessage(T.tags, tag, namespace));
  }
}

/**
 * Loads one namespace document as glance-manage db_load_metadefs does (see `ImportMode`). Items are
 * matched by name, so loading the same files again changes nothing (`merge`, `skip`) or rewrites
 * the same rows (`prefer_new`, `overwrite`); nothing is ever duplicated.
 */
export async function importNamespace(trx: Knex, namespace: NewNamespace, contents: NamespaceContents, mode: ImportMode): Promise<'created' | 'updated' | 'skipped'> {
  const now = Date.now();
  const existing = (await trx(T.namespaces).first('id').where({ namespace: namespace.namespace })) as { id: number } | undefined;
  if (!existing) {
    const id = await insertId(trx, T.namespaces, { ...namespaceColumns(namespace), created_at: now, updated_at: now });
    await insertContents(trx, id, namespace.namespace, contents, { now, seededResourceTypes: true });
    return 'created';
  }
  if (mode === 'skip') return 'skipped';
  const id = Number(existing.id);
  if (mode === 'overwrite') {
    for (const table of [T.objects, T.properties, T.tags, T.associations]) await trx(table).where({ namespace_id: id }).delete();
  }
  if (mode === 'overwrite' || mode === 'prefer_new') {
    await trx(T.namespaces).where({ id }).update({ ...namespaceColumns(namespace), updated_at: now });
  }
  const missing = await missingContents(trx, id, contents);
  await insertContents(trx, id, namespace.namespace, missing, { now, seededResourceTypes: true });
  if (mode === 'prefer_new') await refreshContents(trx, id, contents, now);
  return 'updated';
}

/** The items of `contents` the namespace does not have yet (by name). */
async function missingContents(trx: Knex, namespaceId: number, contents: NamespaceContents): Promise<NamespaceContents> {
  const names = async (table: string) => new Set(((await trx(table).select('name').where({ namespace_id: namespaceId })) as Array<{ name: string }>).map((r) => r.name));
  const [properties, objects, tags] = await Promise.all([names(T.properties), names(T.objects), names(T.tags)]);
  const associated = new Set(
    ((await trx(`${T.associations} as a`).join(`${T.resourceTypes} as r`, 'r.id', 'a.resource_type_id').select('r.name').where('a.namespace_id', namespaceId)) as Array<{ name: string }>).map((r) => r.name),
  );
  return {
    resourceTypeAssociations: contents.resourceTypeAssociations.filter((a) => !associated.has(a.name)),
    properties: contents.properties.filter((p) => !properties.has(p.name)),
    objects: contents.objects.filter((o) => !objects.has(o.name)),
    tags: contents.tags.filter((t) => !tags.has(t)),
  };
}

/** `prefer_new`: the file's version of every item both have. */
async function refreshContents(trx: Knex, namespaceId: number, contents: NamespaceContents, now: number): Promise<void> {
  for (const property of contents.properties) {
    await trx(T.properties).where({ namespace_id: namespaceId, name: property.name }).update({ ...propertyColumns(property), updated_at: now });
  }
  for (const object of contents.objects) {
    await trx(T.objects).where({ namespace_id: namespaceId, name: object.name }).update({ ...objectColumns(object), updated_at: now });
  }
  for (const association of contents.resourceTypeAssociations) {
    const type = (await trx(T.resourceTypes).first('id').where({ name: association.name })) as { id: number };
    await trx(T.associations)
      .where({ namespace_id: namespaceId, resource_type_id: type.id })
      .update({ prefix: association.prefix, properties_target: association.propertiesTarget, updated_at: now });
  }
}
