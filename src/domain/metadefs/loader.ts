import { fail } from '../errors';
import type { MetadefNamespace, NamespaceContents, NewNamespace, PropertySchema } from './model';
import { normalizeProperty } from './property';
import type { ImportMode, MetadefRepository } from './repository';

/**
 * Glance's metadef files (etc/metadefs/*.json, shipped by Debian's glance-common in
 * /etc/glance/metadefs): one namespace per file with its resource type associations, properties,
 * objects and tags. `glint-manage db load_metadefs` reads them; `export_metadefs` writes them.
 */
export interface NamespaceDocument {
  namespace: NewNamespace;
  contents: NamespaceContents;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function text(value: unknown, field: string, maxLength?: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') fail('METADEF_INVALID', `${field} must be a string`);
  if (maxLength !== undefined && [...value].length > maxLength) fail('METADEF_INVALID', `${field} is longer than ${maxLength} characters`);
  return value;
}

function named(items: unknown, field: string): Array<Record<string, unknown> & { name: string }> {
  if (items === undefined || items === null) return [];
  if (!Array.isArray(items)) fail('METADEF_INVALID', `${field} must be a list`);
  return items.map((item, i) => {
    if (!isRecord(item) || typeof item.name !== 'string' || item.name.length === 0) fail('METADEF_INVALID', `${field}[${i}] needs a name`);
    text(item.name, `${field}[${i}].name`, 80);
    return item as Record<string, unknown> & { name: string };
  });
}

function propertiesOf(value: unknown, field: string): Record<string, PropertySchema> {
  if (value === undefined || value === null) return {};
  if (!isRecord(value)) fail('METADEF_INVALID', `${field} must be an object`);
  const out: Record<string, PropertySchema> = {};
  for (const [name, definition] of Object.entries(value)) {
    if (!isRecord(definition)) fail('METADEF_INVALID', `${field}.${name} must be an object`);
    text(name, `${field} name`, 80);
    out[name] = normalizeProperty(definition);
  }
  return out;
}

/** Reads one parsed metadef file; METADEF_INVALID names the first field that is wrong. */
export function parseNamespaceDocument(json: unknown): NamespaceDocument {
  if (!isRecord(json)) fail('METADEF_INVALID', 'the file is not a JSON object');
  const name = text(json.namespace, 'namespace', 80);
  if (!name) fail('METADEF_INVALID', 'namespace is missing');
  const visibility = json.visibility ?? 'private';
  if (visibility !== 'public' && visibility !== 'private') fail('METADEF_INVALID', 'visibility must be public or private');
  if (json.protected !== undefined && json.protected !== null && typeof json.protected !== 'boolean') fail('METADEF_INVALID', 'protected must be true or false');
  return {
    namespace: {
      namespace: name,
      displayName: text(json.display_name, 'display_name', 80),
      description: text(json.description, 'description'),
      visibility,
      protected: json.protected === true,
      // Glance's loader gives every namespace without an owner to "admin"
      owner: text(json.owner, 'owner', 255) ?? 'admin',
    },
    contents: {
      resourceTypeAssociations: named(json.resource_type_associations, 'resource_type_associations').map((a) => ({
        name: a.name,
        prefix: text(a.prefix, 'prefix', 80),
        propertiesTarget: text(a.properties_target, 'properties_target', 80),
      })),
      properties: Object.entries(propertiesOf(json.properties, 'properties')).map(([propertyName, schema]) => ({ name: propertyName, schema })),
      objects: named(json.objects, 'objects').map((o) => ({
        name: o.name,
        description: text(o.description, `object ${o.name} description`),
        required: Array.isArray(o.required) ? o.required.filter((r): r is string => typeof r === 'string') : [],
        properties: propertiesOf(o.properties, `object ${o.name} properties`),
      })),
      tags: named(json.tags, 'tags').map((t) => t.name),
    },
  };
}

/** Loads parsed documents one by one (each namespace in its own transaction). */
export async function loadNamespace(repo: MetadefRepository, document: NamespaceDocument, mode: ImportMode): Promise<'created' | 'updated' | 'skipped'> {
  return repo.importNamespace(document.namespace, document.contents, mode);
}

/** Every namespace in the catalog as a metadef file's JSON (the form `parseNamespaceDocument` reads). */
export async function exportNamespaces(repo: MetadefRepository): Promise<Array<{ namespace: string; json: Record<string, unknown> }>> {
  const namespaces: MetadefNamespace[] = await repo.listNamespaces({ scope: { kind: 'everything' }, sort: { key: 'namespace', dir: 'asc' }, limit: Number.MAX_SAFE_INTEGER });
  const associations = await repo.listAssociations(namespaces.map((n) => n.id));
  const out: Array<{ namespace: string; json: Record<string, unknown> }> = [];
  for (const namespace of namespaces) {
    const [properties, objects, tags] = await Promise.all([
      repo.listProperties(namespace.id),
      repo.listObjects(namespace.id),
      repo.listTags(namespace.id, { sort: { key: 'created_at', dir: 'asc' } }),
    ]);
    out.push({
      namespace: namespace.namespace,
      json: {
        namespace: namespace.namespace,
        display_name: namespace.displayName,
        description: namespace.description,
        visibility: namespace.visibility,
        protected: namespace.protected,
        owner: namespace.owner,
        resource_type_associations: (associations.get(namespace.id) ?? []).map((a) => ({ name: a.name, prefix: a.prefix, properties_target: a.propertiesTarget })),
        properties: Object.fromEntries(properties.map((p) => [p.name, p.schema])),
        objects: objects.map((o) => ({ name: o.name, description: o.description, required: o.required, properties: o.properties })),
        tags: tags.map((t) => ({ name: t.name })),
      },
    });
  }
  return out;
}
