import { fail } from '../../../../domain/errors';
import type { MetadefVisibility, NamespaceContents, NewAssociation, NewObject, NewProperty, PropertySchema } from '../../../../domain/metadefs/model';
import { normalizeProperty } from '../../../../domain/metadefs/property';
import type { NamespaceFields } from '../../../../domain/metadefs/service';
import { firstViolation } from './json-schema';
import { schemaDocument, type MetadefSchemaKind } from './schemas';

/** Request bodies of /v2/metadefs: Glance's read-only check, then its schema, then the domain's types. */

const READ_ONLY = ['self', 'schema', 'created_at', 'updated_at'];

type Body = Record<string, unknown>;

function checkReadOnly(body: Body): void {
  for (const key of READ_ONLY) if (Object.hasOwn(body, key)) fail('ATTRIBUTE_READ_ONLY', `Attribute '${key}' is read-only.`);
}

function validate(body: unknown, kind: MetadefSchemaKind, schema: Record<string, unknown> = schemaDocument(kind)): void {
  const problem = firstViolation(body, schema);
  if (problem) fail('METADEF_INVALID', `Provided object does not match schema '${String(schema.name ?? kind)}': ${problem}`);
}

/** The property schema without `name` required: how Glance checks an object's properties. */
function unnamedPropertySchema(): Record<string, unknown> {
  const schema = structuredClone(schemaDocument('property'));
  schema.required = ['type', 'title'];
  return schema;
}

const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

function propertiesOf(value: unknown): Record<string, PropertySchema> {
  const out: Record<string, PropertySchema> = {};
  for (const [name, definition] of Object.entries((value as Record<string, Record<string, unknown>> | undefined) ?? {})) out[name] = normalizeProperty(definition);
  return out;
}

function objectOf(body: Body): NewObject {
  return {
    name: body.name as string,
    description: str(body.description),
    required: Array.isArray(body.required) ? (body.required as string[]) : [],
    properties: propertiesOf(body.properties),
  };
}

function associationOf(body: Body): NewAssociation {
  return { name: body.name as string, prefix: str(body.prefix), propertiesTarget: str(body.properties_target) };
}

/** Names (and prefixes) inside a namespace body: required, and within their 80-character columns. */
function requireNames(items: unknown, kind: MetadefSchemaKind): void {
  const name = { type: 'string', maxLength: 80 };
  const rules = { name: schemaDocument(kind).name, type: 'object', required: ['name'], properties: { name, prefix: name, properties_target: name } };
  for (const item of (items as Body[] | undefined) ?? []) validate(item, kind, rules);
}

/** POST and PUT /v2/metadefs/namespaces[/{ns}]. */
export function parseNamespace(body: Body): { fields: NamespaceFields; contents: NamespaceContents } {
  checkReadOnly(body);
  validate(body, 'namespace');
  requireNames(body.objects, 'object');
  requireNames(body.tags, 'tag');
  requireNames(body.resource_type_associations, 'resource_type');
  for (const key of Object.keys((body.properties as Body | undefined) ?? {})) validate({ name: key }, 'property', { name: 'property', properties: { name: { type: 'string', maxLength: 80 } } });
  return {
    fields: {
      namespace: body.namespace as string,
      displayName: str(body.display_name),
      description: str(body.description),
      visibility: (str(body.visibility) as MetadefVisibility | null) ?? null,
      protected: typeof body.protected === 'boolean' ? body.protected : null,
      owner: str(body.owner),
    },
    contents: {
      resourceTypeAssociations: ((body.resource_type_associations as Body[] | undefined) ?? []).map(associationOf),
      properties: Object.entries(propertiesOf(body.properties)).map(([name, schema]) => ({ name, schema })),
      objects: ((body.objects as Body[] | undefined) ?? []).map(objectOf),
      tags: ((body.tags as Body[] | undefined) ?? []).map((tag) => tag.name as string),
    },
  };
}

/** POST and PUT of an object: its properties are checked as property definitions too. */
export function parseObject(body: Body): NewObject {
  checkReadOnly(body);
  validate(body, 'object');
  const propertySchema = unnamedPropertySchema();
  for (const definition of Object.values((body.properties as Record<string, unknown> | undefined) ?? {})) validate(definition, 'object', { ...propertySchema, name: 'object' });
  return objectOf(body);
}

/** POST and PUT of a property (the definition keeps its name, as Glance stores it). */
export function parseProperty(body: Body): NewProperty {
  checkReadOnly(body);
  validate(body, 'property');
  return { name: body.name as string, schema: normalizeProperty(body) };
}

/** PUT of a tag: its new name. */
export function parseTag(body: Body): string {
  checkReadOnly(body);
  validate(body, 'tag');
  return body.name as string;
}

/**
 * POST /tags: `{"tags": [{"name": …}, …]}`, checked as Glance does (its list schema: no other key;
 * no `tags` at all is an empty list, which changes nothing).
 */
export function parseTags(body: Body): string[] {
  checkReadOnly(body);
  const tags = schemaDocument('tags').properties as Record<string, unknown>;
  validate(body, 'tags', { name: 'tags', properties: { tags: tags.tags }, additionalProperties: false });
  // Glance's tag item schema has no type: a null item would pass it
  requireNames(body.tags, 'tag');
  return ((body.tags as Body[] | undefined) ?? []).map((tag) => tag.name as string);
}

/** POST of a resource type association. */
export function parseAssociation(body: Body): NewAssociation {
  checkReadOnly(body);
  validate(body, 'resource_type');
  return associationOf(body);
}

/** A name in a path (a tag in `POST /tags/{tag}`) checked as the schema checks a body's name. */
export function checkTagName(name: string): string {
  validate({ name }, 'tag');
  return name;
}
