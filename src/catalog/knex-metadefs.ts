import type { Knex } from 'knex';
import type {
  MetadefNamespace,
  MetadefObject,
  MetadefProperty,
  MetadefTag,
  NamespaceContents,
  NewAssociation,
  NewNamespace,
  NewObject,
  NewProperty,
  ResourceType,
  ResourceTypeAssociation,
} from '../domain/metadefs/model';
import type { ImportMode, MetadefRepository, NamespaceListQuery, TagListQuery } from '../domain/metadefs/repository';
import { importNamespace, insertContents } from './knex-metadefs-import';
import {
  duplicateMessage,
  namespaceColumns,
  namespaceName,
  objectColumns,
  propertyColumns,
  T,
  toAssociation,
  toNamespace,
  toObject,
  toProperty,
  toResourceType,
  toTag,
  writeRow,
  insertId,
  type AssociationRow,
  type NamespaceRow,
  type ObjectRow,
  type PropertyRow,
  type ResourceTypeRow,
  type TagRow,
} from './knex-metadefs-rows';
import { afterKeyset, inTransaction, keysetOrderBy, isUniqueViolation, type KeysetColumn } from './sql';

const NAMESPACE_SORT: Record<NamespaceListQuery['sort']['key'], { column: string; valueOf: (n: MetadefNamespace) => string | number }> = {
  namespace: { column: '`namespace`', valueOf: (n) => n.namespace },
  created_at: { column: '`created_at`', valueOf: (n) => n.createdAt.getTime() },
  updated_at: { column: '`updated_at`', valueOf: (n) => n.updatedAt.getTime() },
};

/** The metadefs catalog on SQLite and MySQL/MariaDB. */
export class KnexMetadefRepository implements MetadefRepository {
  constructor(private readonly knex: Knex) {}

  // ---- namespaces ---------------------------------------------------------------------------

  async createNamespace(namespace: NewNamespace, contents: NamespaceContents): Promise<MetadefNamespace> {
    return inTransaction(this.knex, async (trx) => {
      const now = Date.now();
      const id = await writeRow(
        () => insertId(trx, T.namespaces, { ...namespaceColumns(namespace), created_at: now, updated_at: now }),
        () => duplicateMessage(T.namespaces, namespace.namespace, namespace.namespace),
      );
      await insertContents(trx, id, namespace.namespace, contents, { now, seededResourceTypes: false });
      return toNamespace((await trx(T.namespaces).first('*').where({ id })) as NamespaceRow);
    });
  }

  async getNamespace(name: string): Promise<MetadefNamespace | null> {
    const row = (await this.knex(T.namespaces).first('*').where({ namespace: name })) as NamespaceRow | undefined;
    return row ? toNamespace(row) : null;
  }

  async listNamespaces(query: NamespaceListQuery): Promise<MetadefNamespace[]> {
    const q = this.knex(T.namespaces).select('*');
    if (query.scope.kind === 'owner') {
      const owner = query.scope.owner;
      q.where((w) => {
        w.where('visibility', 'public');
        if (owner !== null) w.orWhere('owner', owner);
      });
    }
    if (query.visibility) q.where('visibility', query.visibility);
    if (query.resourceTypes && query.resourceTypes.length > 0) {
      q.whereIn(
        'id',
        this.knex(`${T.associations} as a`).select('a.namespace_id').join(`${T.resourceTypes} as r`, 'r.id', 'a.resource_type_id').whereIn('r.name', query.resourceTypes),
      );
    }
    const sort = NAMESPACE_SORT[query.sort.key];
    const dir = query.sort.dir;
    const keys = (marker?: MetadefNamespace): KeysetColumn[] => [
      { column: sort.column, dir, value: marker ? sort.valueOf(marker) : null },
      { column: '`id`', dir, value: marker ? marker.id : null },
    ];
    if (query.marker) {
      const after = afterKeyset(keys(query.marker));
      q.whereRaw(after.sql, after.bindings as Knex.RawBinding[]);
    }
    q.orderByRaw(keysetOrderBy(keys())).limit(query.limit);
    return ((await q) as NamespaceRow[]).map(toNamespace);
  }

  async updateNamespace(id: number, fields: NewNamespace): Promise<MetadefNamespace | null> {
    return inTransaction(this.knex, async (trx) => {
      const changed = await writeRow(
        () => trx(T.namespaces).where({ id }).update({ ...namespaceColumns(fields), updated_at: Date.now() }),
        () => `Invalid update. It would result in a duplicate metadata definition namespace with the same name of ${fields.namespace}`,
      );
      if (changed === 0) return null;
      return toNamespace((await trx(T.namespaces).first('*').where({ id })) as NamespaceRow);
    });
  }

  async deleteNamespace(id: number): Promise<boolean> {
    return inTransaction(this.knex, async (trx) => {
      for (const table of [T.objects, T.properties, T.tags, T.associations]) await trx(table).where({ namespace_id: id }).delete();
      return (await trx(T.namespaces).where({ id }).delete()) > 0;
    });
  }

  async deleteContents(id: number, kind: 'objects' | 'properties' | 'tags'): Promise<void> {
    await this.knex(T[kind]).where({ namespace_id: id }).delete();
  }

  // ---- objects ------------------------------------------------------------------------------

  async listObjects(namespaceId: number): Promise<MetadefObject[]> {
    // by name, as Glance lists them
    return ((await this.knex(T.objects).select('*').where({ namespace_id: namespaceId }).orderBy('name')) as ObjectRow[]).map(toObject);
  }

  async getObject(namespaceId: number, name: string): Promise<MetadefObject | null> {
    const row = (await this.knex(T.objects).first('*').where({ namespace_id: namespaceId, name })) as ObjectRow | undefined;
    return row ? toObject(row) : null;
  }

  async createObject(namespaceId: number, object: NewObject): Promise<MetadefObject> {
    const now = Date.now();
    await writeRow(
      () => this.knex(T.objects).insert({ namespace_id: namespaceId, ...objectColumns(object), created_at: now, updated_at: now }),
      async () => duplicateMessage(T.objects, object.name, await namespaceName(this.knex, namespaceId)),
    );
    return (await this.getObject(namespaceId, object.name)) as MetadefObject;
  }

  async updateObject(namespaceId: number, name: string, object: NewObject): Promise<MetadefObject | null> {
    const changed = await writeRow(
      () => this.knex(T.objects).where({ namespace_id: namespaceId, name }).update({ ...objectColumns(object), updated_at: Date.now() }),
      async () => `Invalid update. It would result in a duplicate metadata definition object with the same name=${name} in namespace=${await namespaceName(this.knex, namespaceId)}.`,
    );
    return changed === 0 ? null : this.getObject(namespaceId, object.name);
  }

  async deleteObject(namespaceId: number, name: string): Promise<boolean> {
    return (await this.knex(T.objects).where({ namespace_id: namespaceId, name }).delete()) > 0;
  }

  // ---- properties ---------------------------------------------------------------------------

  async listProperties(namespaceId: number): Promise<MetadefProperty[]> {
    // by name, as Glance lists them (its unique (namespace_id, name) index order)
    return ((await this.knex(T.properties).select('*').where({ namespace_id: namespaceId }).orderBy('name')) as PropertyRow[]).map(toProperty);
  }

  async getProperty(namespaceId: number, name: string): Promise<MetadefProperty | null> {
    const row = (await this.knex(T.properties).first('*').where({ namespace_id: namespaceId, name })) as PropertyRow | undefined;
    return row ? toProperty(row) : null;
  }

  async createProperty(namespaceId: number, property: NewProperty): Promise<MetadefProperty> {
    const now = Date.now();
    await writeRow(
      () => this.knex(T.properties).insert({ namespace_id: namespaceId, ...propertyColumns(property), created_at: now, updated_at: now }),
      async () => duplicateMessage(T.properties, property.name, await namespaceName(this.knex, namespaceId)),
    );
    return (await this.getProperty(namespaceId, property.name)) as MetadefProperty;
  }

  async updateProperty(namespaceId: number, name: string, property: NewProperty): Promise<MetadefProperty | null> {
    const changed = await writeRow(
      () => this.knex(T.properties).where({ namespace_id: namespaceId, name }).update({ ...propertyColumns(property), updated_at: Date.now() }),
      async () => `Invalid update. It would result in a duplicate metadata definition property with the same name=${name} in namespace=${await namespaceName(this.knex, namespaceId)}.`,
    );
    return changed === 0 ? null : this.getProperty(namespaceId, property.name);
  }

  async deleteProperty(namespaceId: number, name: string): Promise<boolean> {
    return (await this.knex(T.properties).where({ namespace_id: namespaceId, name }).delete()) > 0;
  }

  // ---- tags ---------------------------------------------------------------------------------

  async listTags(namespaceId: number, query: TagListQuery): Promise<MetadefTag[]> {
    const column = `\`${query.sort.key}\``;
    const dir = query.sort.dir;
    const keys = (marker?: MetadefTag, markerId?: number): KeysetColumn[] => [
      { column, dir, value: marker ? (query.sort.key === 'name' ? marker.name : (query.sort.key === 'created_at' ? marker.createdAt : marker.updatedAt).getTime()) : null },
      { column: '`id`', dir, value: markerId ?? null },
    ];
    const q = this.knex(T.tags).select('*').where({ namespace_id: namespaceId });
    if (query.marker) {
      const row = (await this.knex(T.tags).first('id').where({ namespace_id: namespaceId, name: query.marker.name })) as { id: number } | undefined;
      const after = afterKeyset(keys(query.marker, Number(row?.id ?? 0)));
      q.whereRaw(after.sql, after.bindings as Knex.RawBinding[]);
    }
    q.orderByRaw(keysetOrderBy(keys()));
    if (query.limit !== undefined) q.limit(query.limit);
    return ((await q) as TagRow[]).map(toTag);
  }

  async getTag(namespaceId: number, name: string): Promise<MetadefTag | null> {
    const row = (await this.knex(T.tags).first('*').where({ namespace_id: namespaceId, name })) as TagRow | undefined;
    return row ? toTag(row) : null;
  }

  async createTags(namespaceId: number, names: string[], append: boolean): Promise<MetadefTag[]> {
    return inTransaction(this.knex, async (trx) => {
      if (!append) await trx(T.tags).where({ namespace_id: namespaceId }).delete();
      const now = Date.now();
      for (const name of names) {
        await writeRow(
          () => trx(T.tags).insert({ namespace_id: namespaceId, name, created_at: now, updated_at: now }),
          async () => duplicateMessage(T.tags, name, await namespaceName(trx, namespaceId)),
        );
      }
      const rows = (await trx(T.tags).select('*').where({ namespace_id: namespaceId }).whereIn('name', names)) as TagRow[];
      const byName = new Map(rows.map((row) => [row.name, toTag(row)]));
      return names.map((name) => byName.get(name) as MetadefTag);
    });
  }

  async renameTag(namespaceId: number, name: string, newName: string): Promise<MetadefTag | null> {
    const changed = await writeRow(
      () => this.knex(T.tags).where({ namespace_id: namespaceId, name }).update({ name: newName, updated_at: Date.now() }),
      async () => duplicateMessage(T.tags, newName, await namespaceName(this.knex, namespaceId)),
    );
    return changed === 0 ? null : this.getTag(namespaceId, newName);
  }

  async deleteTag(namespaceId: number, name: string): Promise<boolean> {
    return (await this.knex(T.tags).where({ namespace_id: namespaceId, name }).delete()) > 0;
  }

  // ---- resource types -----------------------------------------------------------------------

  async listResourceTypes(): Promise<ResourceType[]> {
    return ((await this.knex(T.resourceTypes).select('*').orderBy('id')) as ResourceTypeRow[]).map(toResourceType);
  }

  async listAssociations(namespaceIds: number[]): Promise<Map<number, ResourceTypeAssociation[]>> {
    const result = new Map<number, ResourceTypeAssociation[]>();
    if (namespaceIds.length === 0) return result;
    const rows = (await this.knex(`${T.associations} as a`)
      .join(`${T.resourceTypes} as r`, 'r.id', 'a.resource_type_id')
      .select('a.namespace_id', 'r.name', 'a.prefix', 'a.properties_target', 'a.created_at', 'a.updated_at')
      .whereIn('a.namespace_id', namespaceIds)
      .orderBy([{ column: 'a.created_at' }, { column: 'a.resource_type_id' }])) as AssociationRow[];
    for (const row of rows) {
      const id = Number(row.namespace_id);
      const list = result.get(id) ?? [];
      list.push(toAssociation(row));
      result.set(id, list);
    }
    return result;
  }

  async createAssociation(namespaceId: number, association: NewAssociation): Promise<ResourceTypeAssociation> {
    const now = Date.now();
    return inTransaction(this.knex, async (trx) => {
      await insertContents(trx, namespaceId, await namespaceName(trx, namespaceId), { resourceTypeAssociations: [association], properties: [], objects: [], tags: [] }, { now, seededResourceTypes: false });
      const found = (await this.listAssociationsIn(trx, namespaceId)).find((a) => a.name === association.name);
      return found as ResourceTypeAssociation;
    });
  }

  private async listAssociationsIn(trx: Knex, namespaceId: number): Promise<ResourceTypeAssociation[]> {
    const rows = (await trx(`${T.associations} as a`)
      .join(`${T.resourceTypes} as r`, 'r.id', 'a.resource_type_id')
      .select('a.namespace_id', 'r.name', 'a.prefix', 'a.properties_target', 'a.created_at', 'a.updated_at')
      .where('a.namespace_id', namespaceId)) as AssociationRow[];
    return rows.map(toAssociation);
  }

  async deleteAssociation(namespaceId: number, resourceType: string): Promise<boolean> {
    const type = (await this.knex(T.resourceTypes).first('id').where({ name: resourceType })) as { id: number } | undefined;
    if (!type) return false;
    return (await this.knex(T.associations).where({ namespace_id: namespaceId, resource_type_id: type.id }).delete()) > 0;
  }

  // ---- loader -------------------------------------------------------------------------------

  async importNamespace(namespace: NewNamespace, contents: NamespaceContents, mode: ImportMode): Promise<'created' | 'updated' | 'skipped'> {
    try {
      return await inTransaction(this.knex, (trx) => importNamespace(trx, namespace, contents, mode));
    } catch (err) {
      // another node created the same namespace first: load again, as an existing one
      if (!isUniqueViolation(err)) throw err;
      return inTransaction(this.knex, (trx) => importNamespace(trx, namespace, contents, mode));
    }
  }

  async deleteAll(): Promise<void> {
    await inTransaction(this.knex, async (trx) => {
      for (const table of [T.objects, T.properties, T.tags, T.associations, T.namespaces, T.resourceTypes]) await trx(table).delete();
    });
  }
}
