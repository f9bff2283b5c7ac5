import type {
  MetadefNamespace,
  MetadefObject,
  MetadefProperty,
  MetadefTag,
  NamespaceContents,
  NamespaceDetail,
  PropertySchema,
  ResourceType,
  ResourceTypeAssociation,
} from '../../../../domain/metadefs/model';

/** Glance's metadef documents (wsme: unset attributes left out, timestamps to the second, in Z). */

type Doc = Record<string, unknown>;

export function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

const stamps = (item: { createdAt: Date; updatedAt: Date }) => ({ created_at: isoSeconds(item.createdAt), updated_at: isoSeconds(item.updatedAt) });

const namespaceHref = (ns: string) => `/v2/metadefs/namespaces/${ns}`;

function namespaceFields(namespace: MetadefNamespace): Doc {
  const doc: Doc = { namespace: namespace.namespace };
  if (namespace.displayName !== null) doc.display_name = namespace.displayName;
  if (namespace.description !== null) doc.description = namespace.description;
  doc.visibility = namespace.visibility;
  doc.protected = namespace.protected;
  if (namespace.owner !== null) doc.owner = namespace.owner;
  return { ...doc, ...stamps(namespace) };
}

function withLinks(doc: Doc, namespace: string): Doc {
  return { ...doc, self: namespaceHref(namespace), schema: '/v2/schemas/metadefs/namespace' };
}

export function presentAssociation(association: ResourceTypeAssociation): Doc {
  const doc: Doc = { name: association.name };
  if (association.prefix !== null) doc.prefix = association.prefix;
  if (association.propertiesTarget !== null) doc.properties_target = association.propertiesTarget;
  return { ...doc, ...stamps(association) };
}

export function presentResourceType(type: ResourceType): Doc {
  return { name: type.name, ...stamps(type) };
}

/** A namespace in a list: its fields and its resource type associations. */
export function presentListedNamespace(namespace: MetadefNamespace, associations: ResourceTypeAssociation[]): Doc {
  const doc = namespaceFields(namespace);
  if (associations.length > 0) doc.resource_type_associations = associations.map(presentAssociation);
  return withLinks(doc, namespace.namespace);
}

/** The create answer: the namespace and, as Glance does, the contents as the request gave them. */
export function presentCreatedNamespace(namespace: MetadefNamespace, contents: NamespaceContents): Doc {
  const doc = namespaceFields(namespace);
  if (contents.resourceTypeAssociations.length > 0) {
    doc.resource_type_associations = contents.resourceTypeAssociations.map((a) => {
      const item: Doc = { name: a.name };
      if (a.prefix !== null) item.prefix = a.prefix;
      if (a.propertiesTarget !== null) item.properties_target = a.propertiesTarget;
      return item;
    });
  }
  if (contents.properties.length > 0) doc.properties = Object.fromEntries(contents.properties.map((p) => [p.name, p.schema]));
  if (contents.objects.length > 0) {
    doc.objects = contents.objects.map((o) => {
      const item: Doc = { name: o.name };
      if (o.required.length > 0) item.required = o.required;
      if (o.description !== null) item.description = o.description;
      if (Object.keys(o.properties).length > 0) item.properties = o.properties;
      return item;
    });
  }
  if (contents.tags.length > 0) doc.tags = contents.tags.map((name) => ({ name }));
  return withLinks(doc, namespace.namespace);
}

export function presentNamespace(namespace: MetadefNamespace): Doc {
  return withLinks(namespaceFields(namespace), namespace.namespace);
}

/**
 * GET of one namespace with everything in it; with `?resource_type=`, the properties (and the
 * objects' properties and required lists) carry that association's prefix.
 */
export function presentNamespaceDetail(detail: NamespaceDetail, resourceType?: string): Doc {
  const prefix = (resourceType && detail.resourceTypeAssociations.find((a) => a.name === resourceType)?.prefix) || '';
  const doc = namespaceFields(detail.namespace);
  if (detail.resourceTypeAssociations.length > 0) doc.resource_type_associations = detail.resourceTypeAssociations.map(presentAssociation);
  if (detail.properties.length > 0) doc.properties = Object.fromEntries(detail.properties.map((p) => [prefix + p.name, p.schema]));
  if (detail.objects.length > 0) doc.objects = detail.objects.map((o) => presentObject(detail.namespace.namespace, o, prefix));
  if (detail.tags.length > 0) doc.tags = detail.tags.map((t) => ({ name: t.name }));
  return withLinks(doc, detail.namespace.namespace);
}

/** An object as GET shows it: `required` and `properties` always there (empty when none). */
export function presentObject(namespace: string, object: MetadefObject, prefix = ''): Doc {
  const doc: Doc = { name: object.name, required: object.required.map((name) => prefix + name) };
  if (object.description !== null) doc.description = object.description;
  doc.properties = Object.fromEntries(Object.entries(object.properties).map(([name, schema]) => [prefix + name, schema]));
  return { ...doc, ...stamps(object), self: `${namespaceHref(namespace)}/objects/${object.name}`, schema: '/v2/schemas/metadefs/object' };
}

/** The answer to a create or update of an object: Glance echoes the fields the request gave. */
export function presentObjectWritten(namespace: string, object: MetadefObject, given: Record<string, unknown>): Doc {
  const doc: Doc = { name: object.name };
  if (given.required !== undefined && given.required !== null) doc.required = object.required;
  if (object.description !== null) doc.description = object.description;
  if (given.properties !== undefined && given.properties !== null) doc.properties = object.properties;
  return { ...doc, ...stamps(object), self: `${namespaceHref(namespace)}/objects/${object.name}`, schema: '/v2/schemas/metadefs/object' };
}

/** One property: its name first, then its definition. */
export function presentProperty(property: MetadefProperty): PropertySchema {
  return { name: property.name, ...property.schema };
}

export function presentProperties(properties: MetadefProperty[]): Doc {
  return { properties: Object.fromEntries(properties.map((p) => [p.name, p.schema])) };
}

export function presentTag(tag: MetadefTag): Doc {
  return { name: tag.name, ...stamps(tag) };
}
