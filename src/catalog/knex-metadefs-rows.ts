import type { Knex } from 'knex';
import { fail } from '../domain/errors';
import type {
  MetadefNamespace,
  MetadefObject,
  MetadefProperty,
  MetadefTag,
  MetadefVisibility,
  NewNamespace,
  NewObject,
  NewProperty,
  PropertySchema,
  ResourceType,
  ResourceTypeAssociation,
} from '../domain/metadefs/model';
import { isForeignKeyViolation, isUniqueViolation, toBoolean, toDate, toNumber, type DbBoolean, type DbInteger } from './sql';

/** Rows of the metadef tables (migrations/20261205000100_metadefs.ts) and their domain forms. */

export const T = {
  namespaces: 'metadef_namespaces',
  objects: 'metadef_objects',
  properties: 'metadef_properties',
  tags: 'metadef_tags',
  resourceTypes: 'metadef_resource_types',
  associations: 'metadef_namespace_resource_types',
} as const;

export interface NamespaceRow {
  id: DbInteger;
  namespace: string;
  display_name: string | null;
  description: string | null;
  visibility: string;
  protected: DbBoolean;
  owner: string | null;
  created_at: DbInteger;
  updated_at: DbInteger;
}

interface Stamped {
  created_at: DbInteger;
  updated_at: DbInteger;
}

export interface ObjectRow extends Stamped {
  id: DbInteger;
  name: string;
  description: string | null;
  required: string | null;
  json_schema: string;
}

export interface PropertyRow extends Stamped {
  id: DbInteger;
  name: string;
  json_schema: string;
}

export interface TagRow extends Stamped {
  id: DbInteger;
  name: string;
}

export interface ResourceTypeRow extends Stamped {
  id: DbInteger;
  name: string;
  protected: DbBoolean;
}

export interface AssociationRow extends Stamped {
  namespace_id: DbInteger;
  name: string;
  prefix: string | null;
  properties_target: string | null;
}

const stamps = (row: Stamped) => ({ createdAt: toDate(row.created_at), updatedAt: toDate(row.updated_at) });

export function toNamespace(row: NamespaceRow): MetadefNamespace {
  return {
    id: toNumber(row.id),
    namespace: row.namespace,
    displayName: row.display_name,
    description: row.description,
    visibility: row.visibility as MetadefVisibility,
    protected: toBoolean(row.protected),
    owner: row.owner,
    ...stamps(row),
  };
}

export function toObject(row: ObjectRow): MetadefObject {
  return {
    name: row.name,
    description: row.description,
    required: row.required ? (JSON.parse(row.required) as string[]) : [],
    properties: (JSON.parse(row.json_schema) as Record<string, PropertySchema> | null) ?? {},
    ...stamps(row),
  };
}

export function toProperty(row: PropertyRow): MetadefProperty {
  return { name: row.name, schema: JSON.parse(row.json_schema) as PropertySchema, ...stamps(row) };
}

export function toTag(row: TagRow): MetadefTag {
  return { name: row.name, ...stamps(row) };
}

export function toResourceType(row: ResourceTypeRow): ResourceType {
  return { name: row.name, protected: toBoolean(row.protected), ...stamps(row) };
}

export function toAssociation(row: AssociationRow): ResourceTypeAssociation {
  return { name: row.name, prefix: row.prefix, propertiesTarget: row.properties_target, ...stamps(row) };
}

export function namespaceColumns(namespace: NewNamespace) {
  return {
    namespace: namespace.namespace,
    display_name: namespace.displayName,
    description: namespace.description,
    visibility: namespace.visibility,
    protected: namespace.protected,
    owner: namespace.owner,
  };
}

export function objectColumns(object: NewObject) {
  return { name: object.name, description: object.description, required: JSON.stringify(object.required), json_schema: JSON.stringify(object.properties) };
}

export function propertyColumns(property: NewProperty) {
  return { name: property.name, json_schema: JSON.stringify(property.schema) };
}

/** Glance's duplicate messages, by table. */
export function duplicateMessage(table: string, name: string, namespace: string): string {
  switch (table) {
    case T.namespaces:
      return `The metadata definition namespace=${name} already exists.`;
    case T.objects:
      return `A metadata definition object with name=${name} already exists in namespace=${namespace}.`;
    case T.properties:
      return `A metadata definition property with name=${name} already exists in namespace=${namespace}.`;
    case T.tags:
      return `A metadata tag with name=${name} already exists in namespace=${namespace}. (Please note that metadata tag names are case insensitive).`;
    default:
      return `The metadata definition resource-type association of resource-type=${name} to namespace=${namespace} already exists.`;
  }
}

/** Runs an insert or update; a duplicate name is METADEF_EXISTS, a vanished namespace METADEF_NOT_FOUND. */
export async function writeRow<T>(work: () => Promise<T>, duplicate: () => string | Promise<string>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isUniqueViolation(err)) fail('METADEF_EXISTS', await duplicate());
    if (isForeignKeyViolation(err)) fail('METADEF_NOT_FOUND', 'The metadata definition namespace was not found.');
    throw err;
  }
}

/** The namespace's name for messages (the row may be gone: then its id). */
export async function namespaceName(knex: Knex, id: number): Promise<string> {
  const row = (await knex(T.namespaces).first('namespace').where({ id })) as { namespace: string } | undefined;
  return row?.namespace ?? String(id);
}

/** Inserts a row and returns its auto-increment id on both drivers. */
export async function insertId(trx: Knex, table: string, values: Record<string, unknown>): Promise<number> {
  const [id] = (await trx(table).insert(values)) as Array<number | { id: number }>;
  return typeof id === 'number' ? id : Number(id.id);
}
