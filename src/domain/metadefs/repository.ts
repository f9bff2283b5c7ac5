import type {
  MetadefNamespace,
  MetadefObject,
  MetadefProperty,
  MetadefTag,
  MetadefVisibility,
  NamespaceContents,
  NewAssociation,
  NewNamespace,
  NewObject,
  NewProperty,
  ResourceType,
  ResourceTypeAssociation,
} from './model';

/** Same values as the image list's sort direction; declared here so this file does not import repositories.ts, which imports it. */
type SortDirection = 'asc' | 'desc';

/** Which namespaces a caller may see: every one, or the public ones and those `owner` owns. */
export type NamespaceScope = { kind: 'everything' } | { kind: 'owner'; owner: string | null };

export type NamespaceSortKey = 'namespace' | 'created_at' | 'updated_at';

export interface NamespaceListQuery {
  scope: NamespaceScope;
  visibility?: MetadefVisibility;
  /** Only namespaces associated with at least one of these resource types. */
  resourceTypes?: string[];
  sort: { key: NamespaceSortKey; dir: SortDirection };
  /** Start after this namespace (already resolved and visible). */
  marker?: MetadefNamespace;
  limit: number;
}

export interface TagListQuery {
  sort: { key: 'name' | 'created_at' | 'updated_at'; dir: SortDirection };
  marker?: MetadefTag;
  limit?: number;
}

/**
 * How `importNamespace` treats a namespace that already exists (glance-manage db_load_metadefs):
 * `skip` leaves it alone; `merge` adds what it lacks; `prefer_new` also overwrites what both have;
 * `overwrite` replaces its contents with the file's.
 */
export type ImportMode = 'skip' | 'merge' | 'prefer_new' | 'overwrite';

/**
 * The metadefs catalog. Namespace contents are addressed by the namespace's id, which the service
 * resolves (and checks visible) first. Writes reject with METADEF_EXISTS on a duplicate name and
 * METADEF_NOT_FOUND when the namespace went away meanwhile; multi-row writes are one transaction.
 */
export interface MetadefRepository {
  /** Inserts a namespace and `contents` atomically; METADEF_EXISTS names the first duplicate. */
  createNamespace(namespace: NewNamespace, contents: NamespaceContents): Promise<MetadefNamespace>;
  getNamespace(name: string): Promise<MetadefNamespace | null>;
  listNamespaces(query: NamespaceListQuery): Promise<MetadefNamespace[]>;
  /** Replaces the namespace's own fields (a rename included); null when it is gone. */
  updateNamespace(id: number, fields: NewNamespace): Promise<MetadefNamespace | null>;
  /** Deletes the namespace and everything in it (not the resource types); false when gone. */
  deleteNamespace(id: number): Promise<boolean>;
  /** Deletes every object, property or tag of the namespace. */
  deleteContents(id: number, kind: 'objects' | 'properties' | 'tags'): Promise<void>;

  listObjects(namespaceId: number): Promise<MetadefObject[]>;
  getObject(namespaceId: number, name: string): Promise<MetadefObject | null>;
  createObject(namespaceId: number, object: NewObject): Promise<MetadefObject>;
  /** Replaces the object named `name` (a rename included); null when absent. */
  updateObject(namespaceId: number, name: string, object: NewObject): Promise<MetadefObject | null>;
  deleteObject(namespaceId: number, name: string): Promise<boolean>;

  listProperties(namespaceId: number): Promise<MetadefProperty[]>;
  getProperty(namespaceId: number, name: string): Promise<MetadefProperty | null>;
  createProperty(namespaceId: number, property: NewProperty): Promise<MetadefProperty>;
  updateProperty(namespaceId: number, name: string, property: NewProperty): Promise<MetadefProperty | null>;
  deleteProperty(namespaceId: number, name: string): Promise<boolean>;

  listTags(namespaceId: number, query: TagListQuery): Promise<MetadefTag[]>;
  getTag(namespaceId: number, name: string): Promise<MetadefTag | null>;
  /**
   * Inserts `names` in one transaction, first deleting every existing tag unless `append`;
   * METADEF_EXISTS (and nothing written) when one is already there or listed twice.
   */
  createTags(namespaceId: number, names: string[], append: boolean): Promise<MetadefTag[]>;
  renameTag(namespaceId: number, name: string, newName: string): Promise<MetadefTag | null>;
  deleteTag(namespaceId: number, name: string): Promise<boolean>;

  listResourceTypes(): Promise<ResourceType[]>;
  /** Associations of each namespace id given, keyed by id. */
  listAssociations(namespaceIds: number[]): Promise<Map<number, ResourceTypeAssociation[]>>;
  /** Associates a resource type (created, unprotected, when unknown); METADEF_EXISTS when already. */
  createAssociation(namespaceId: number, association: NewAssociation): Promise<ResourceTypeAssociation>;
  /** False when the resource type is unknown or not associated. */
  deleteAssociation(namespaceId: number, resourceType: string): Promise<boolean>;

  /** Loads one namespace document (glint-manage db load_metadefs); returns what it did. */
  importNamespace(namespace: NewNamespace, contents: NamespaceContents, mode: ImportMode): Promise<'created' | 'updated' | 'skipped'>;
  /** Deletes every namespace, resource type and association (glint-manage db unload_metadefs). */
  deleteAll(): Promise<void>;
}
