/**
 * Glance's metadata definitions (metadefs): namespaces that group property definitions, objects
 * (named groups of properties), tags, and the resource types (OS::Glance::Image, OS::Nova::Flavor…)
 * a namespace applies to. Names are the identifiers the API uses; ids stay in the catalog.
 */

export type MetadefVisibility = 'public' | 'private';

export interface MetadefNamespace {
  /** Catalog id; never shown. */
  id: number;
  namespace: string;
  displayName: string | null;
  description: string | null;
  visibility: MetadefVisibility;
  protected: boolean;
  /** Project owning the namespace (null only for rows an unauthenticated deployment created). */
  owner: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * One property definition: a JSON-schema fragment (type, title, enum, minimum…), kept as given
 * after the surface checked it against Glance's property schema.
 */
export type PropertySchema = Record<string, unknown>;

export interface MetadefProperty {
  name: string;
  schema: PropertySchema;
  createdAt: Date;
  updatedAt: Date;
}

export interface MetadefObject {
  name: string;
  description: string | null;
  required: string[];
  properties: Record<string, PropertySchema>;
  createdAt: Date;
  updatedAt: Date;
}

export interface MetadefTag {
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface ResourceType {
  name: string;
  /** Seeded by the loader: never deleted with a namespace. */
  protected: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface ResourceTypeAssociation {
  name: string;
  prefix: string | null;
  propertiesTarget: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type NewNamespace = Omit<MetadefNamespace, 'id' | 'createdAt' | 'updatedAt'>;
export type NewObject = Omit<MetadefObject, 'createdAt' | 'updatedAt'>;
export type NewProperty = Omit<MetadefProperty, 'createdAt' | 'updatedAt'>;
export type NewAssociation = Omit<ResourceTypeAssociation, 'createdAt' | 'updatedAt'>;

/** What a namespace holds besides its own fields (a create request, a loaded file). */
export interface NamespaceContents {
  resourceTypeAssociations: NewAssociation[];
  properties: NewProperty[];
  objects: NewObject[];
  tags: string[];
}

/** A namespace with everything in it, as `GET /v2/metadefs/namespaces/{ns}` shows it. */
export interface NamespaceDetail {
  namespace: MetadefNamespace;
  resourceTypeAssociations: ResourceTypeAssociation[];
  properties: MetadefProperty[];
  objects: MetadefObject[];
  tags: MetadefTag[];
}

export const EMPTY_CONTENTS: NamespaceContents = Object.freeze({ resourceTypeAssociations: [], properties: [], objects: [], tags: [] });
