import { randomUUID } from 'node:crypto';
import type { Catalog, ColumnFilter, ImageChanges, ImageListQuery, ListScope, SortDirection, SortKey } from './repositories';
import type { ImagePolicyConfig, LimitsConfig } from '../config/types';
import type { StoreRegistry } from '../stores/registry';
import { hasAdminRole, type RequestContext } from './context';
import { GlintError, fail } from './errors';
import { canTransition, type Image, type ImageMember, type MemberStatus, MEMBER_STATUSES, type Visibility } from './image';
import {
  BASE_ATTRIBUTES,
  canonicalImageId,
  CREATE_FORBIDDEN_FIRST,
  CREATE_IGNORED,
  isReservedProperty,
  READ_ONLY_ATTRIBUTES,
  rejectFourByteCharacters,
  validateAttributeValue,
  validateMinimum,
  validatePropertyKey,
  validateTag,
} from './image-rules';
import type { Logger } from '../lib/logger';
import { assertAdminRole, assertCanModify, assertWritable, canSee, isOwnerOrAdmin } from './policy';

export interface ImageServiceDeps {
  catalog: Catalog;
  stores: StoreRegistry;
  limits: LimitsConfig;
  images: ImagePolicyConfig;
  logger: Logger;
}

/** One JSON-patch step in domain terms (the surface has already parsed the wire format). */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace';
  /** Top-level attribute or property name. */
  name: string;
  value?: unknown;
  /** The v2.0 patch form, where `add` of an existing key conflicts. */
  strictAdd?: boolean;
}

export interface ListImagesRequest {
  limit?: number;
  marker?: string;
  /** Empty = the default order (newest first). */
  sort: Array<{ key: SortKey; dir: SortDirection }>;
  filters: ColumnFilter[];
  properties: Record<string, string>;
  tags: string[];
  visibility?: Visibility | 'all';
  memberStatus?: MemberStatus | 'all';
  /** undefined = only images that are not hidden. */
  osHidden?: boolean;
}

export interface ImagePage {
  images: Image[];
  /** True when the page is full, so another page may follow. */
  mayHaveMore: boolean;
}

/** The rules for image records, tags and members. Every surface goes through here. */
export class ImageService {
  constructor(private readonly deps: ImageServiceDeps) {}

  get formatPolicy(): ImagePolicyConfig {
    return this.deps.images;
  }

  // ---- lookup ----------------------------------------------------------------------------

  /** The image if the caller may see it; IMAGE_NOT_FOUND otherwise (also for invisible ones). */
  async getImage(ctx: RequestContext, id: string): Promise<Image> {
    const image = id.length <= 64 ? await this.deps.catalog.images.get(id) : null;
    if (!image || image.status === 'killed' || !(await this.isVisible(ctx, image))) throw notFound(id);
    return image;
  }

  private async isVisible(ctx: RequestContext, image: Image): Promise<boolean> {
    if (canSee(ctx, image, null)) return true;
    if (image.visibility !== 'shared' || ctx.projectId === null) return false;
    return canSee(ctx, image, await this.deps.catalog.members.get(image.id, ctx.projectId));
  }

  // ---- create ----------------------------------------------------------------------------

  async createImage(ctx: RequestContext, body: Record<string, unknown>): Promise<Image> {
    const { limits } = this.deps;
    for (const key of CREATE_FORBIDDEN_FIRST) {
      if (key in body) fail('ATTRIBUTE_READ_ONLY', `Attribute '${key}' is read-only.`);
    }
    for (const [key, value] of Object.entries(body)) validateAttributeValue(key, value, this.deps.images);
    for (const key of Object.keys(body)) {
      if (!BASE_ATTRIBUTES.has(key)) validatePropertyKey(key);
    }
    for (const key of Object.keys(body)) {
      if (!BASE_ATTRIBUTES.has(key) && isReservedProperty(key)) fail('ATTRIBUTE_RESERVED', `Attribute '${key}' is reserved.`);
    }
    assertWritable(ctx);
    const owner = 'owner' in body ? (body.owner as string | null) : ctx.projectId;
    if ('owner' in body && !ctx.isAdmin && owner !== ctx.projectId) {
      fail('NOT_AUTHORIZED', 'You are not permitted to create images owned by another project.');
    }
    if (body.visibility === 'public') assertAdminRole(ctx, "publicize images (visibility 'public')");
    for (const key of READ_ONLY_ATTRIBUTES) {
      if (key in body && !(CREATE_IGNORED as readonly string[]).includes(key) && key !== 'id') {
        fail('ATTRIBUTE_READ_ONLY', `Attribute '${key}' is read-only.`);
      }
    }
    if ('locations' in body) fail('ATTRIBUTE_RESERVED', "Attribute 'locations' is reserved.");

    const tags = dedupe((body.tags as string[] | undefined) ?? []);
    const properties: Record<string, string> = {};
    for (const [key, value] of Object.entries(body)) {
      if (!BASE_ATTRIBUTES.has(key)) properties[key] = value === null ? '' : (value as string);
    }
    if (exceeds(tags.length, limits.imageTagQuota)) fail('TAG_QUOTA_EXCEEDED', `Maximum number of tags exceeded (${limits.imageTagQuota}).`);
    const userPropertyCount = Object.keys(properties).filter((k) => !k.startsWith('os_glance')).length;
    if (exceeds(userPropertyCount, limits.imagePropertyQuota)) {
      fail('PROPERTY_QUOTA_EXCEEDED', `Maximum number of image properties exceeded (${limits.imagePropertyQuota}).`);
    }
    for (const key of ['min_ram', 'min_disk'] as const) {
      if (key in body) validateMinimum(key, body[key] as number);
    }
    rejectFourByteCharacters([...Object.keys(body), ...Object.values(body)]);

    return this.deps.catalog.images.create({
      id: typeof body.id === 'string' ? body.id.toLowerCase() : randomUUID(),
      name: (body.name as string | null | undefined) ?? null,
      status: 'queued',
      visibility: (body.visibility as Visibility | undefined) ?? 'shared',
      protected: (body.protected as boolean | undefined) ?? false,
      osHidden: (body.os_hidden as boolean | undefined) ?? false,
      checksum: null,
      osHashAlgo: null,
      osHashValue: null,
      owner,
      size: null,
      virtualSize: null,
      minRam: (body.min_ram as number | undefined) ?? 0,
      minDisk: (body.min_disk as number | undefined) ?? 0,
      containerFormat: (body.container_format as string | null | undefined) ?? null,
      diskFormat: (body.disk_format as string | null | undefined) ?? null,
      properties,
      tags,
    });
  }

  // ---- list ------------------------------------------------------------------------------

  async listImages(ctx: RequestContext, request: ListImagesRequest): Promise<ImagePage> {
    const { limits } = this.deps;
    const limit = Math.min(request.limit ?? limits.limitParamDefault, limits.apiLimitMax);
    if (limit === 0) return { images: [], mayHaveMore: false };
    let marker: Image | undefined;
    if (request.marker !== undefined) {
      try {
        marker = await this.getImage(ctx, canonicalImageId(request.marker));
      } catch (err) {
        if (err instanceof GlintError && err.kind === 'not_found') fail('BAD_QUERY', `Invalid marker: image ${request.marker} could not be found.`);
        throw err;
      }
    }
    const includeAllCommunity = request.visibility === 'community' || request.visibility === 'all';
    const scope: ListScope = ctx.isAdmin
      ? { kind: 'everything', projectId: ctx.projectId, includeAllCommunity }
      : { kind: 'project', projectId: ctx.projectId, memberStatus: request.memberStatus ?? 'accepted', includeAllCommunity };
    const filters = [...request.filters];
    if (request.visibility && request.visibility !== 'all') filters.push({ column: 'visibility', op: 'eq', value: request.visibility });
    filters.push({ column: 'osHidden', op: 'eq', value: request.osHidden ?? false });

    const sort = request.sort.length > 0 ? [...request.sort] : [{ key: 'createdAt' as const, dir: 'desc' as const }];
    const tieDirection = sort[0].dir;
    for (const key of ['createdAt', 'id'] as const) {
      if (!sort.some((s) => s.key === key)) sort.push({ key, dir: tieDirection });
    }
    const query: ImageListQuery = { scope, filters, properties: request.properties, tags: request.tags, sort, marker, limit };
    const images = await this.deps.catalog.images.list(query);
    return { images, mayHaveMore: images.length === limit };
  }

  // ---- update ----------------------------------------------------------------------------

  async updateImage(ctx: RequestContext, id: string, operations: PatchOperation[]): Promise<Image> {
    for (const op of operations) this.checkOperationShape(op);
    const image = await this.getImage(ctx, id);
    if (operations.length === 0) return image;
    assertCanModify(ctx, image);

    const attributes: NonNullable<ImageChanges['attributes']> = {};
    const properties = { ...image.properties };
    let tags: string[] | undefined;
    let propertiesAdded = false;
    for (const op of operations) {
      const { name } = op;
      if (name === 'tags') {
        if (op.op === 'remove') fail('ATTRIBUTE_READ_ONLY', "Attribute 'tags' cannot be removed.");
        tags = dedupe(op.value as string[]);
        continue;
      }
      if (BASE_ATTRIBUTES.has(name)) {
        if (op.op === 'remove') fail('ATTRIBUTE_READ_ONLY', `Attribute '${name}' cannot be removed.`);
        if (op.op === 'add' && op.strictAdd) fail('PROPERTY_EXISTS', `Attribute '${name}' already exists.`);
        this.applyBaseAttribute(ctx, image, attributes, name, op.value);
        continue;
      }
      const exists = Object.hasOwn(properties, name);
      if (op.op === 'remove') {
        if (!exists) fail('PROPERTY_NOT_FOUND', `Property ${name} does not exist.`);
        delete properties[name];
      } else if (op.op === 'replace') {
        if (!exists) fail('PROPERTY_NOT_FOUND', `Property ${name} does not exist.`);
        properties[name] = op.value === null ? '' : (op.value as string);
      } else {
        if (exists && op.strictAdd) fail('PROPERTY_EXISTS', `Property ${name} already present.`);
        if (!exists) propertiesAdded = true;
        properties[name] = op.value === null ? '' : (op.value as string);
      }
    }
    const { limits } = this.deps;
    if (propertiesAdded) {
      const count = Object.keys(properties).filter((k) => !k.startsWith('os_glance')).length;
      if (exceeds(count, limits.imagePropertyQuota)) fail('PROPERTY_QUOTA_EXCEEDED', `Maximum number of image properties exceeded (${limits.imagePropertyQuota}).`);
    }
    if (tags && exceeds(tags.length, limits.imageTagQuota)) fail('TAG_QUOTA_EXCEEDED', `Maximum number of tags exceeded (${limits.imageTagQuota}).`);

    const setProperties: Record<string, string> = {};
    for (const [k, v] of Object.entries(properties)) if (image.properties[k] !== v) setProperties[k] = v;
    const removeProperties = Object.keys(image.properties).filter((k) => !Object.hasOwn(properties, k));
    const updated = await this.deps.catalog.images.update(
      id,
      { attributes, setProperties, removeProperties, tags },
      { revision: image.revision },
    );
    if (updated) return updated;
    // Someone else changed the image between our read and write: apply again on the fresh copy.
    const current = await this.deps.catalog.images.get(id);
    if (!current) throw notFound(id);
    return this.updateImage(ctx, id, operations);
  }

  private checkOperationShape(op: PatchOperation): void {
    const { name } = op;
    if ((READ_ONLY_ATTRIBUTES as readonly string[]).includes(name)) fail('ATTRIBUTE_READ_ONLY', `Attribute '${name}' is read-only.`);
    if (name === 'locations') {
      if (!this.deps.images.showMultipleLocations) fail('LOCATIONS_NOT_ALLOWED', 'It is not allowed to change image locations.');
      fail('LOCATIONS_NOT_ALLOWED', 'Location updates are not supported by glint.');
    }
    if (!BASE_ATTRIBUTES.has(name)) {
      validatePropertyKey(name);
      if (isReservedProperty(name)) fail('ATTRIBUTE_RESERVED', `Attribute '${name}' is reserved.`);
    }
    if (op.op !== 'remove') {
      validateAttributeValue(name, op.value, this.deps.images);
      rejectFourByteCharacters([name, op.value]);
    }
  }

  private applyBaseAttribute(
    ctx: RequestContext,
    image: Image,
    attributes: NonNullable<ImageChanges['attributes']>,
    name: string,
    value: unknown,
  ): void {
    switch (name) {
      case 'name':
        attributes.name = value as string | null;
        return;
      case 'visibility':
        if (value === 'public' && image.visibility !== 'public') assertAdminRole(ctx, "publicize images (visibility 'public')");
        attributes.visibility = value as Visibility;
        return;
      case 'protected':
        attributes.protected = value as boolean;
        return;
      case 'os_hidden':
        attributes.osHidden = value as boolean;
        return;
      case 'owner':
        if (!ctx.isAdmin && value !== image.owner) fail('NOT_AUTHORIZED', "Only admins may change an image's owner.");
        attributes.owner = value as string | null;
        return;
      case 'min_ram':
      case 'min_disk':
        validateMinimum(name, value as number);
        attributes[name === 'min_ram' ? 'minRam' : 'minDisk'] = value as number;
        return;
      case 'container_format':
      case 'disk_format': {
        const current = name === 'disk_format' ? image.diskFormat : image.containerFormat;
        if (value !== current && image.status !== 'queued' && image.status !== 'importing') {
          fail('FORMAT_CHANGE_NOT_ALLOWED', `Attribute ${name} can be only replaced for a queued image.`);
        }
        attributes[name === 'disk_format' ? 'diskFormat' : 'containerFormat'] = value as string | null;
        return;
      }
      default:
        fail('ATTRIBUTE_READ_ONLY', `Attribute '${name}' is read-only.`);
    }
  }

  // ---- delete and actions ------------------------------------------------------------------

  async deleteImage(ctx: RequestContext, id: string): Promise<void> {
    const image = await this.getImage(ctx, id);
    assertCanModify(ctx, image, 'delete this image');
    if (image.protected) fail('IMAGE_PROTECTED', `Image ${id} is protected and cannot be deleted.`);
    const deleted = await this.deps.catalog.images.markDeleted(id, { status: image.status, revision: image.revision });
    if (!deleted) {
      const current = await this.deps.catalog.images.get(id);
      if (!current) throw notFound(id);
      return this.deleteImage(ctx, id);
    }
    await this.removeData(deleted);
  }

  /** Removes every object an image had: its locations and any staged data. Errors are logged. */
  async removeData(image: Image): Promise<void> {
    const keys = image.locations.map((l) => ({ storeId: l.storeId, key: l.key }));
    keys.push({ storeId: this.deps.stores.default.id, key: stagingKey(image.id) });
    await Promise.all(
      keys.map(async ({ storeId, key }) => {
        const store = this.deps.stores.get(storeId);
        if (!store) return;
        try {
          await store.delete(key);
        } catch (err) {
          this.deps.logger.error('failed to delete image data', { imageId: image.id, storeId, key, error: String(err) });
        }
      }),
    );
  }

  async deactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.setActivation(ctx, id, 'deactivated');
  }

  async reactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.setActivation(ctx, id, 'active');
  }

  private async setActivation(ctx: RequestContext, id: string, target: 'active' | 'deactivated'): Promise<void> {
    const image = await this.getImage(ctx, id);
    assertCanModify(ctx, image, target === 'active' ? 'reactivate this image' : 'deactivate this image');
    if (image.status === target) return;
    // Only the two action edges of the status machine: active ⇄ deactivated (queued → active
    // is a transition too, but not one an action may take).
    const from = target === 'active' ? 'deactivated' : 'active';
    if (image.status !== from || !canTransition(image.status, target)) {
      fail('IMAGE_ACTION_NOT_ALLOWED', `Not allowed to ${target === 'active' ? 'reactivate' : 'deactivate'} image in status '${image.status}'`);
    }
    const updated = await this.deps.catalog.images.update(id, { attributes: { status: target } }, { status: image.status });
    if (!updated) return this.setActivation(ctx, id, target);
  }

  // ---- tags ------------------------------------------------------------------------------

  async addTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    validateTag(tag);
    const image = await this.getImage(ctx, id);
    assertCanModify(ctx, image);
    if (image.tags.includes(tag)) return;
    const limit = this.deps.limits.imageTagQuota;
    if (exceeds(image.tags.length + 1, limit)) fail('TAG_QUOTA_EXCEEDED', `Maximum number of tags exceeded (${limit}).`);
    const updated = await this.deps.catalog.images.update(id, { tags: [...image.tags, tag] }, { revision: image.revision });
    if (!updated) return this.addTag(ctx, id, tag);
  }

  async removeTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    const image = await this.getImage(ctx, id);
    assertCanModify(ctx, image);
    if (!image.tags.includes(tag)) fail('TAG_NOT_FOUND', `Tag ${tag} not found.`);
    const updated = await this.deps.catalog.images.update(id, { tags: image.tags.filter((t) => t !== tag) }, { revision: image.revision });
    if (!updated) return this.removeTag(ctx, id, tag);
  }

  // ---- members ---------------------------------------------------------------------------

  private async sharedImage(ctx: RequestContext, id: string): Promise<Image> {
    const image = await this.getImage(ctx, id);
    if (image.visibility !== 'shared') fail('MEMBERS_NOT_SHARED', `Only shared images have members.`);
    return image;
  }

  async listMembers(ctx: RequestContext, imageId: string): Promise<ImageMember[]> {
    const image = await this.sharedImage(ctx, imageId);
    const members = await this.deps.catalog.members.list(imageId);
    if (isOwnerOrAdmin(ctx, image)) return members;
    return members.filter((m) => m.memberId === ctx.projectId);
  }

  async getMember(ctx: RequestContext, imageId: string, memberId: string): Promise<ImageMember> {
    const image = await this.getImage(ctx, imageId);
    const member = image.visibility === 'shared' ? await this.deps.catalog.members.get(imageId, memberId) : null;
    if (!member || (!isOwnerOrAdmin(ctx, image) && memberId !== ctx.projectId)) {
      fail('MEMBER_NOT_FOUND', `Member ${memberId} not found for image ${imageId}.`);
    }
    return member;
  }

  async addMember(ctx: RequestContext, imageId: string, memberId: string): Promise<ImageMember> {
    const image = await this.sharedImage(ctx, imageId);
    assertCanModify(ctx, image, 'add members to this image');
    if (memberId.length === 0 || memberId.length > 255) fail('BAD_REQUEST', 'Member id must be 1 to 255 characters.');
    const limit = this.deps.limits.imageMemberQuota;
    if (exceeds((await this.deps.catalog.members.count(imageId)) + 1, limit)) {
      fail('MEMBER_QUOTA_EXCEEDED', `Maximum number of image members exceeded (${limit}).`);
    }
    return this.deps.catalog.members.add(imageId, memberId);
  }

  async updateMember(ctx: RequestContext, imageId: string, memberId: string, status: unknown): Promise<ImageMember> {
    const image = await this.getImage(ctx, imageId);
    if (typeof status !== 'string' || !MEMBER_STATUSES.includes(status as MemberStatus)) {
      fail('BAD_REQUEST', `Invalid status: ${JSON.stringify(status)} (pending, accepted, rejected).`);
    }
    const member = await this.getMember(ctx, imageId, memberId);
    assertWritable(ctx);
    if (!ctx.isAdmin && ctx.projectId !== member.memberId) {
      fail('NOT_AUTHORIZED', `Only the member project can change its membership status of image ${image.id}.`);
    }
    const updated = await this.deps.catalog.members.setStatus(imageId, memberId, status as MemberStatus);
    if (!updated) fail('MEMBER_NOT_FOUND', `Member ${memberId} not found for image ${imageId}.`);
    return updated;
  }

  async removeMember(ctx: RequestContext, imageId: string, memberId: string): Promise<void> {
    const image = await this.sharedImage(ctx, imageId);
    const member = await this.getMember(ctx, imageId, memberId);
    assertCanModify(ctx, image, 'remove members of this image');
    if (!(await this.deps.catalog.members.remove(imageId, member.memberId))) {
      fail('MEMBER_NOT_FOUND', `Member ${memberId} not found for image ${imageId}.`);
    }
  }

  /** Admin check used by surfaces for admin-only listings (stores detail, tasks). */
  requireAdminRole(ctx: RequestContext, action: string): void {
    assertAdminRole(ctx, action);
  }

  isAdminRole(ctx: RequestContext): boolean {
    return hasAdminRole(ctx);
  }
}

export function stagingKey(imageId: string): string {
  return `staging/${imageId}`;
}

export function notFound(id: string): GlintError {
  return new GlintError('IMAGE_NOT_FOUND', `No image found with ID ${id}`);
}

function exceeds(count: number, limit: number): boolean {
  return limit >= 0 && count > limit;
}

function dedupe(values: string[]): string[] {
  return [...new Set(values)];
}
