import type { RequestContext } from '../context';
import { fail } from '../errors';
import type {
  MetadefNamespace,
  MetadefObject,
  MetadefProperty,
  MetadefTag,
  MetadefVisibility,
  NamespaceContents,
  NamespaceDetail,
  NewAssociation,
  NewObject,
  NewProperty,
  ResourceType,
  ResourceTypeAssociation,
} from './model';
import { isNamespaceVisible, legacyMetadefPolicy, refuse, type MetadefAction, type MetadefAuthorizer } from './policy';
import type { MetadefRepository, NamespaceListQuery, TagListQuery } from './repository';

/** A namespace's own fields as a create or update request gives them (Glance's defaults apply to the rest). */
export interface NamespaceFields {
  namespace: string;
  displayName?: string | null;
  description?: string | null;
  visibility?: MetadefVisibility | null;
  protected?: boolean | null;
  owner?: string | null;
}

export interface NamespacePage {
  namespaces: Array<{ namespace: MetadefNamespace; associations: ResourceTypeAssociation[] }>;
  /** Name of the last namespace when the page is full (another may follow). */
  next: string | null;
}

export interface NamespaceListRequest {
  visibility?: MetadefVisibility;
  resourceTypes?: string[];
  sort: NamespaceListQuery['sort'];
  marker?: string;
  limit: number;
}

/**
 * The /v2/metadefs rules (Glance's metadef controllers and domain): a namespace the caller may not
 * see is missing (404); a policy refusal on a visible one is 403; deleting a protected namespace,
 * or anything inside one, is 403; duplicates are 409.
 */
export class MetadefService {
  private readonly allowed: MetadefAuthorizer;

  constructor(private readonly deps: { metadefs: MetadefRepository; authorize?: MetadefAuthorizer }) {
    this.allowed = deps.authorize ?? legacyMetadefPolicy;
  }

  private get repo(): MetadefRepository {
    return this.deps.metadefs;
  }

  /**
   * Refuses `action` unless allowed: 403, or, as Glance's MetadefAPIPolicy does, 404 when the caller
   * may not even get the namespace concerned (or, with none, a namespace of its own project).
   */
  private check(ctx: RequestContext, action: MetadefAction, namespace: MetadefNamespace | null): void {
    if (this.allowed(ctx, action, namespace)) return;
    if (action === 'get_metadef_namespace' || !this.allowed(ctx, 'get_metadef_namespace', namespace)) {
      fail('METADEF_NOT_FOUND', 'The resource could not be found.');
    }
    refuse(action);
  }

  /**
   * The namespace `name` if the caller may see it. `missing` is Glance's message for an absent one
   * (it differs per controller); an invisible one says `hidden`.
   */
  private async visible(ctx: RequestContext, name: string, messages?: { missing?: string; hidden?: string }): Promise<MetadefNamespace> {
    const namespace = await this.repo.getNamespace(name);
    const fallback = `Namespace ${name} not found`;
    if (!namespace) fail('METADEF_NOT_FOUND', messages?.missing ?? fallback);
    if (!isNamespaceVisible(ctx, namespace)) fail('METADEF_NOT_FOUND', messages?.hidden ?? fallback);
    return namespace;
  }

  private static assertDeletable(namespace: MetadefNamespace, what: string): void {
    if (namespace.protected) fail('METADEF_PROTECTED', `Metadata definition ${what} is protected and cannot be deleted.`);
  }

  // ---- namespaces ---------------------------------------------------------------------------

  async listNamespaces(ctx: RequestContext, request: NamespaceListRequest): Promise<NamespacePage> {
    this.check(ctx, 'get_metadef_namespaces', null);
    this.check(ctx, 'list_metadef_resource_types', null);
    const marker = request.marker === undefined ? undefined : await this.visible(ctx, request.marker, { missing: `Metadata definition namespace=${request.marker} was not found.` });
    const rows = await this.repo.listNamespaces({
      scope: ctx.isAdmin ? { kind: 'everything' } : { kind: 'owner', owner: ctx.projectId },
      visibility: request.visibility,
      resourceTypes: request.resourceTypes,
      sort: request.sort,
      marker,
      limit: request.limit,
    });
    const shown = rows.filter((namespace) => this.allowed(ctx, 'get_metadef_namespace', namespace));
    const associations = await this.repo.listAssociations(shown.map((n) => n.id));
    return {
      namespaces: shown.map((namespace) => ({ namespace, associations: associations.get(namespace.id) ?? [] })),
      next: shown.length > 0 && shown.length === request.limit ? shown[shown.length - 1].namespace : null,
    };
  }

  async createNamespace(ctx: RequestContext, fields: NamespaceFields, contents: NamespaceContents): Promise<MetadefNamespace> {
    this.check(ctx, 'add_metadef_namespace', null);
    if (contents.resourceTypeAssociations.length > 0) this.check(ctx, 'add_metadef_resource_type_association', null);
    if (contents.objects.length > 0) this.check(ctx, 'add_metadef_object', null);
    if (contents.properties.length > 0) this.check(ctx, 'add_metadef_property', null);
    if (contents.tags.length > 0) this.check(ctx, 'add_metadef_tag', null);
    return this.repo.createNamespace(
      {
        namespace: fields.namespace,
        displayName: fields.displayName ?? null,
        description: fields.description ?? null,
        visibility: fields.visibility ?? 'private',
        protected: fields.protected ?? false,
        owner: fields.owner ?? ctx.projectId,
      },
      contents,
    );
  }

  async getNamespace(ctx: RequestContext, name: string): Promise<NamespaceDetail> {
    const namespace = await this.repo.getNamespace(name);
    if (!namespace) fail('METADEF_NOT_FOUND', `Metadata definition namespace=${name} was not found.`);
    if (!isNamespaceVisible(ctx, namespace) || !this.allowed(ctx, 'get_metadef_namespace', namespace)) fail('METADEF_NOT_FOUND', 'The resource could not be found.');
    for (const action of ['list_metadef_resource_types', 'get_metadef_objects', 'get_metadef_properties', 'get_metadef_tags'] as const) this.check(ctx, action, namespace);
    const [associations, objects, properties, tags] = await Promise.all([
      this.repo.listAssociations([namespace.id]),
      this.repo.listObjects(namespace.id),
      this.repo.listProperties(namespace.id),
      // Glance's default tag order: newest first
      this.repo.listTags(namespace.id, { sort: { key: 'created_at', dir: 'desc' } }),
    ]);
    return { namespace, resourceTypeAssociations: associations.get(namespace.id) ?? [], objects, properties, tags };
  }

  /** PUT replaces every field: those left out get Glance's defaults (private, unprotected, the caller's project). */
  async updateNamespace(ctx: RequestContext, name: string, fields: NamespaceFields): Promise<MetadefNamespace> {
    const namespace = await this.visible(ctx, name);
    this.check(ctx, 'modify_metadef_namespace', namespace);
    const updated = await this.repo.updateNamespace(namespace.id, {
      namespace: fields.namespace,
      displayName: fields.displayName ?? null,
      description: fields.description ?? null,
      visibility: fields.visibility ?? 'private',
      protected: fields.protected ?? false,
      owner: fields.owner ?? ctx.projectId,
    });
    if (!updated) fail('METADEF_NOT_FOUND', `Namespace ${name} not found`);
    return updated;
  }

  async deleteNamespace(ctx: RequestContext, name: string): Promise<void> {
    const namespace = await this.visible(ctx, name);
    this.check(ctx, 'delete_metadef_namespace', namespace);
    MetadefService.assertDeletable(namespace, `namespace ${name}`);
    await this.repo.deleteNamespace(namespace.id);
  }

  /** DELETE /objects, /properties, /tags of a namespace: each needs delete_metadef_namespace too. */
  async deleteContents(ctx: RequestContext, name: string, kind: 'objects' | 'properties' | 'tags'): Promise<void> {
    const namespace = await this.visible(ctx, name);
    this.check(ctx, 'delete_metadef_namespace', namespace);
    if (kind === 'objects') this.check(ctx, 'delete_metadef_object', namespace);
    if (kind === 'tags') this.check(ctx, 'delete_metadef_tags', namespace);
    MetadefService.assertDeletable(namespace, `namespace ${name}`);
    await this.repo.deleteContents(namespace.id, kind);
  }

  // ---- objects ------------------------------------------------------------------------------

  private objectNamespace(ctx: RequestContext, name: string): Promise<MetadefNamespace> {
    return this.visible(ctx, name, { missing: `Metadata definition namespace=${name} was not found.` });
  }

  async listObjects(ctx: RequestContext, ns: string): Promise<MetadefObject[]> {
    const namespace = await this.objectNamespace(ctx, ns);
    this.check(ctx, 'get_metadef_objects', namespace);
    return this.repo.listObjects(namespace.id);
  }

  async getObject(ctx: RequestContext, ns: string, name: string): Promise<MetadefObject> {
    const namespace = await this.objectNamespace(ctx, ns);
    this.check(ctx, 'get_metadef_object', namespace);
    return (await this.repo.getObject(namespace.id, name)) ?? fail('METADEF_NOT_FOUND', `Could not find metadata object ${name}`);
  }

  async createObject(ctx: RequestContext, ns: string, object: NewObject): Promise<MetadefObject> {
    const namespace = await this.objectNamespace(ctx, ns);
    this.check(ctx, 'add_metadef_object', namespace);
    return this.repo.createObject(namespace.id, object);
  }

  async updateObject(ctx: RequestContext, ns: string, name: string, object: NewObject): Promise<MetadefObject> {
    const namespace = await this.objectNamespace(ctx, ns);
    this.check(ctx, 'modify_metadef_object', namespace);
    return (await this.repo.updateObject(namespace.id, name, object)) ?? fail('METADEF_NOT_FOUND', `Could not find metadata object ${name}`);
  }

  async deleteObject(ctx: RequestContext, ns: string, name: string): Promise<void> {
    const namespace = await this.objectNamespace(ctx, ns);
    this.check(ctx, 'delete_metadef_object', namespace);
    if (!(await this.repo.getObject(namespace.id, name))) fail('METADEF_NOT_FOUND', `Could not find metadata object ${name}`);
    MetadefService.assertDeletable(namespace, `object ${name}`);
    await this.repo.deleteObject(namespace.id, name);
  }

  // ---- properties ---------------------------------------------------------------------------

  async listProperties(ctx: RequestContext, ns: string): Promise<MetadefProperty[]> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'get_metadef_properties', namespace);
    return this.repo.listProperties(namespace.id);
  }

  /** A property; `resourceType` (Glance's query parameter) strips that type's prefix from `name` first. */
  async getProperty(ctx: RequestContext, ns: string, name: string, resourceType?: string): Promise<MetadefProperty> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'get_metadef_property', namespace);
    let lookup = name;
    if (resourceType) {
      this.check(ctx, 'get_metadef_resource_type', namespace);
      if (!(await this.repo.listResourceTypes()).some((t) => t.name === resourceType)) {
        fail('METADEF_NOT_FOUND', `The metadata definition resource-type with name=${resourceType}, was not found.`);
      }
      const association = (await this.repo.listAssociations([namespace.id])).get(namespace.id)?.find((a) => a.name === resourceType);
      if (!association) {
        fail('METADEF_NOT_FOUND', `The metadata definition resource-type association of resource-type=${resourceType} to namespace=${ns}, was not found.`);
      }
      const prefix = association.prefix;
      if (!prefix || !name.startsWith(prefix)) {
        fail('METADEF_NOT_FOUND', `Property ${name} does not start with the expected resource type association prefix of '${prefix ?? 'None'}'.`);
      }
      lookup = name.slice(prefix.length);
    }
    return (await this.repo.getProperty(namespace.id, lookup)) ?? fail('METADEF_NOT_FOUND', `Could not find property ${name}`);
  }

  async createProperty(ctx: RequestContext, ns: string, property: NewProperty): Promise<MetadefProperty> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'add_metadef_property', namespace);
    return this.repo.createProperty(namespace.id, property);
  }

  async updateProperty(ctx: RequestContext, ns: string, name: string, property: NewProperty): Promise<MetadefProperty> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'modify_metadef_property', namespace);
    return (await this.repo.updateProperty(namespace.id, name, property)) ?? fail('METADEF_NOT_FOUND', `Could not find property ${name}`);
  }

  async deleteProperty(ctx: RequestContext, ns: string, name: string): Promise<void> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'remove_metadef_property', namespace);
    if (!(await this.repo.getProperty(namespace.id, name))) fail('METADEF_NOT_FOUND', `Could not find property ${name}`);
    MetadefService.assertDeletable(namespace, `property ${name}`);
    await this.repo.deleteProperty(namespace.id, name);
  }

  // ---- tags ---------------------------------------------------------------------------------

  async listTags(ctx: RequestContext, ns: string, query: TagListQuery & { markerName?: string }): Promise<MetadefTag[]> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'get_metadef_tags', namespace);
    const marker = query.markerName === undefined ? undefined : ((await this.repo.getTag(namespace.id, query.markerName)) ?? fail('METADEF_NOT_FOUND', `Could not find metadata tag ${query.markerName}`));
    return this.repo.listTags(namespace.id, { sort: query.sort, limit: query.limit, marker });
  }

  async getTag(ctx: RequestContext, ns: string, name: string): Promise<MetadefTag> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'get_metadef_tag', namespace);
    return (await this.repo.getTag(namespace.id, name)) ?? fail('METADEF_NOT_FOUND', `Could not find metadata tag ${name}`);
  }

  async createTag(ctx: RequestContext, ns: string, name: string): Promise<MetadefTag> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'add_metadef_tag', namespace);
    const [tag] = await this.repo.createTags(namespace.id, [name], true);
    return tag;
  }

  /** POST /tags: replaces the namespace's tags, or adds to them with X-OpenStack-Append: true. */
  async createTags(ctx: RequestContext, ns: string, names: string[], append: boolean): Promise<MetadefTag[]> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'add_metadef_tags', namespace);
    if (!append) this.check(ctx, 'delete_metadef_tags', namespace);
    // Glance: an empty list changes nothing (the existing tags stay)
    if (names.length === 0) return [];
    return this.repo.createTags(namespace.id, names, append);
  }

  async renameTag(ctx: RequestContext, ns: string, name: string, newName: string): Promise<MetadefTag> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'modify_metadef_tag', namespace);
    return (await this.repo.renameTag(namespace.id, name, newName)) ?? fail('METADEF_NOT_FOUND', `Could not find metadata tag ${name}`);
  }

  async deleteTag(ctx: RequestContext, ns: string, name: string): Promise<void> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'delete_metadef_tag', namespace);
    if (!(await this.repo.getTag(namespace.id, name))) fail('METADEF_NOT_FOUND', `Could not find metadata tag ${name}`);
    MetadefService.assertDeletable(namespace, `tag ${name}`);
    await this.repo.deleteTag(namespace.id, name);
  }

  // ---- resource types -----------------------------------------------------------------------

  async listResourceTypes(ctx: RequestContext): Promise<ResourceType[]> {
    this.check(ctx, 'list_metadef_resource_types', null);
    return this.repo.listResourceTypes();
  }

  async listAssociations(ctx: RequestContext, ns: string): Promise<ResourceTypeAssociation[]> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'get_metadef_resource_type', namespace);
    return (await this.repo.listAssociations([namespace.id])).get(namespace.id) ?? [];
  }

  async createAssociation(ctx: RequestContext, ns: string, association: NewAssociation): Promise<ResourceTypeAssociation> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'add_metadef_resource_type_association', namespace);
    return this.repo.createAssociation(namespace.id, association);
  }

  async deleteAssociation(ctx: RequestContext, ns: string, resourceType: string): Promise<void> {
    const namespace = await this.visible(ctx, ns);
    this.check(ctx, 'remove_metadef_resource_type_association', namespace);
    const associations = (await this.repo.listAssociations([namespace.id])).get(namespace.id) ?? [];
    if (!associations.some((a) => a.name === resourceType)) fail('METADEF_NOT_FOUND', `Failed to find resource type ${resourceType} to delete`);
    MetadefService.assertDeletable(namespace, `resource-type-association ${resourceType}`);
    await this.repo.deleteAssociation(namespace.id, resourceType);
  }
}
