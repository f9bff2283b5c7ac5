import { randomUUID } from 'node:crypto';
import type { LimitsConfig } from '../config/types';
import type { Logger } from '../lib/logger';
import type { StoreRegistry } from '../stores/registry';
import type { RequestContext } from './context';
import { GlintError, fail } from './errors';
import { canTransition, type Image, type ImageMember, type MemberStatus, MEMBER_STATUSES, type Visibility } from './image';
import type { ImageChange, NewImage } from './image-commands';
import { rejectFourByteCharacters, validateMinimum, validateTag } from './image-rules';
import { assertCanModify, assertWritable, canSee, enforceOnImage, enforceVisibility, imageTarget, isOwnerOrAdmin, mayGetImage, newImageTarget, PolicyEnforcer, type PolicyRule, type Target } from './policy';
import type { Catalog, ColumnFilter, DeletedImage, ImageAttributeChanges, ImageChanges, ImageListQuery, ListScope, SortDirection, SortKey } from './repositories';
import { retryOnConflict } from './retry';

export interface ImageServiceDeps {
  catalog: Catalog;
  stores: StoreRegistry;
  limits: LimitsConfig;
  logger: Logger;
  /** The authorization rules (default: Glance's current defaults, no policy file). */
  policy?: PolicyEnforcer;
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
  readonly policy: PolicyEnforcer;

  constructor(private readonly deps: ImageServiceDeps) {
    this.policy = deps.policy ?? PolicyEnforcer.glanceDefaults();
  }

  // ---- authorization ---------------------------------------------------------------------

  /**
   * Enforces policy `rule` on a visible image: 403, or 404 when the caller may not even
   * `get_image` it. With `legacyAction` (a mutation), the context must be writable and, while the
   * legacy rules apply (enforce_new_defaults = false, or the unauthenticated flavour), Glance's
   * owner-or-admin check follows. Location operations call this with their rule names
   * (`get_image_location`, `add_image_location`, `fetch_image_location`, `set_image_location`,
   * `delete_image_location`).
   */
  authorizeImage(ctx: RequestContext, rule: PolicyRule, image: Image, legacyAction: string | null = 'modify this image'): void {
    if (legacyAction !== null) assertWritable(ctx);
    enforceOnImage(this.policy, ctx, rule, image);
    if (legacyAction !== null && this.policy.legacyChecksApply(ctx)) assertCanModify(ctx, image, legacyAction);
  }

  /** Enforces a rule without an image (tasks, store details, metadefs…): 403 when refused. */
  authorize(ctx: RequestContext, rule: PolicyRule, target: Target = { project_id: ctx.projectId }, message?: string): void {
    this.policy.enforce(ctx, rule, target, message);
  }

  // ---- lookup ----------------------------------------------------------------------------

  /** The image if the caller may see it; IMAGE_NOT_FOUND otherwise (also for invisible ones). */
  async getImage(ctx: RequestContext, id: string): Promise<Image> {
    const image = id.length <= 64 ? await this.deps.catalog.images.get(id) : null;
    if (!image || image.status === 'killed' || !(await this.isVisible(ctx, image))) throw notFound(id);
    if (!mayGetImage(this.policy, ctx, image)) throw notFound(id);
    return image;
  }

  private async isVisible(ctx: RequestContext, image: Image): Promise<boolean> {
    if (canSee(ctx, image, null)) return true;
    if (image.visibility !== 'shared' || ctx.projectId === null) return false;
    return canSee(ctx, image, await this.deps.catalog.members.get(image.id, ctx.projectId));
  }

  // ---- create ----------------------------------------------------------------------------

  async createImage(ctx: RequestContext, draft: NewImage): Promise<Image> {
    const { limits } = this.deps;
    assertWritable(ctx);
    const owner = draft.owner !== undefined ? draft.owner : ctx.projectId;
    const target = newImageTarget(ctx, draft.owner, draft.visibility);
    if (!this.policy.allows(ctx, 'add_image', target)) {
      fail('NOT_AUTHORIZED', owner !== ctx.projectId ? 'You are not permitted to create images owned by another project.' : 'You are not authorized to create images.');
    }
    if (draft.visibility !== undefined) enforceVisibility(this.policy, ctx, draft.visibility, target);
    if (this.policy.legacyChecksApply(ctx) && draft.owner !== undefined && !ctx.isAdmin && owner !== ctx.projectId) {
      fail('NOT_AUTHORIZED', 'You are not permitted to create images owned by another project.');
    }
    const tags = dedupe(draft.tags ?? []);
    const properties = draft.properties ?? {};
    if (exceeds(tags.length, limits.imageTagQuota)) fail('TAG_QUOTA_EXCEEDED', `Maximum number of tags exceeded (${limits.imageTagQuota}).`);
    if (exceeds(countUserProperties(properties), limits.imagePropertyQuota)) {
      fail('PROPERTY_QUOTA_EXCEEDED', `Maximum number of image properties exceeded (${limits.imagePropertyQuota}).`);
    }
    if (draft.minRam !== undefined) validateMinimum('min_ram', draft.minRam);
    if (draft.minDisk !== undefined) validateMinimum('min_disk', draft.minDisk);
    rejectFourByteCharacters([draft.name, owner, draft.containerFormat, draft.diskFormat, ...Object.keys(properties), ...Object.values(properties), tags]);

    return this.deps.catalog.images.create({
      id: draft.id ?? randomUUID(),
      name: draft.name ?? null,
      status: 'queued',
      visibility: draft.visibility ?? 'shared',
      protected: draft.protected ?? false,
      osHidden: draft.osHidden ?? false,
      checksum: null,
      osHashAlgo: null,
      osHashValue: null,
      owner,
      size: null,
      virtualSize: null,
      minRam: draft.minRam ?? 0,
      minDisk: draft.minDisk ?? 0,
      containerFormat: draft.containerFormat ?? null,
      diskFormat: draft.diskFormat ?? null,
      properties,
      tags,
    });
  }

  // ---- list ------------------------------------------------------------------------------

  async listImages(ctx: RequestContext, request: ListImagesRequest): Promise<ImagePage> {
    const { limits } = this.deps;
    const limit = Math.min(request.limit ?? limits.limitParamDefault, limits.apiLimitMax);
    this.authorize(ctx, 'get_images');
    if (limit === 0) return { images: [], mayHaveMore: false };
    let marker: Image | undefined;
    if (request.marker !== undefined) {
      try {
        marker = await this.getImage(ctx, request.marker);
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
    // as Glance: each listed image must pass get_image; whether more follow is the catalog's count
    return { images: images.filter((image) => mayGetImage(this.policy, ctx, image)), mayHaveMore: images.length === limit };
  }

  // ---- update ----------------------------------------------------------------------------

  /**
   * Applies `changes` in order on one read of the image and saves them in one conditional update.
   * `extend` adds the catalog changes of edits other services own (the locations of a PATCH),
   * computed on the same read and saved in the same update; it may throw to refuse the edit.
   */
  async updateImage(ctx: RequestContext, id: string, changes: ImageChange[], extend?: (image: Image) => Promise<ImageChanges>): Promise<Image> {
    for (const change of changes) {
      if (change.kind === 'property') rejectFourByteCharacters([change.name, change.value]);
      else if (change.kind !== 'unset') rejectFourByteCharacters([change.kind === 'tags' ? change.tags : change.value]);
    }
    return retryOnConflict(`Updating image ${id}`, async () => {
      const image = await this.getImage(ctx, id);
      if (changes.length === 0 && !extend) return image;
      this.authorizeImage(ctx, 'modify_image', image);
      const edit = this.applyChanges(ctx, image, changes);
      const more = extend ? await extend(image) : {};
      return this.deps.catalog.images.update(id, { ...edit, ...more, attributes: { ...edit.attributes, ...more.attributes } }, { revision: image.revision });
    });
  }

  /** The catalog changes `changes` make to `image`, once every rule holds. */
  private applyChanges(ctx: RequestContext, image: Image, changes: ImageChange[]): ImageChanges {
    const attributes: ImageAttributeChanges = {};
    const properties = { ...image.properties };
    let tags: string[] | undefined;
    let propertiesAdded = false;
    for (const change of changes) {
      switch (change.kind) {
        case 'unset':
          fail('ATTRIBUTE_READ_ONLY', `Attribute '${change.label}' cannot be removed.`);
        // falls through: fail() never returns
        case 'tags':
          tags = dedupe(change.tags);
          break;
        case 'attribute':
          if (change.mustNotExist) fail('PROPERTY_EXISTS', `Attribute '${change.label}' already exists.`);
          this.applyAttribute(ctx, image, attributes, change);
          break;
        case 'property': {
          const { name } = change;
          const exists = Object.hasOwn(properties, name);
          if (change.mustExist && !exists) fail('PROPERTY_NOT_FOUND', `Property ${name} does not exist.`);
          if (change.mustNotExist && exists) fail('PROPERTY_EXISTS', `Property ${name} already present.`);
          if (change.op === 'remove') {
            delete properties[name];
          } else {
            if (!exists) propertiesAdded = true;
            properties[name] = change.value ?? '';
          }
        }
      }
    }
    const { limits } = this.deps;
    if (propertiesAdded && exceeds(countUserProperties(properties), limits.imagePropertyQuota)) {
      fail('PROPERTY_QUOTA_EXCEEDED', `Maximum number of image properties exceeded (${limits.imagePropertyQuota}).`);
    }
    if (tags && exceeds(tags.length, limits.imageTagQuota)) fail('TAG_QUOTA_EXCEEDED', `Maximum number of tags exceeded (${limits.imageTagQuota}).`);

    const setProperties: Record<string, string> = {};
    for (const [k, v] of Object.entries(properties)) if (image.properties[k] !== v) setProperties[k] = v;
    const removeProperties = Object.keys(image.properties).filter((k) => !Object.hasOwn(properties, k));
    return { attributes, setProperties, removeProperties, tags };
  }

  private applyAttribute(ctx: RequestContext, image: Image, attributes: ImageAttributeChanges, change: Extract<ImageChange, { kind: 'attribute' }>): void {
    switch (change.field) {
      case 'visibility':
        // changing to public or community has its own rule (keeping it is not publicizing)
        if (change.value !== image.visibility) enforceVisibility(this.policy, ctx, change.value, imageTarget(ctx, image));
        break;
      case 'owner':
        if (!ctx.isAdmin && change.value !== image.owner) fail('NOT_AUTHORIZED', "Only admins may change an image's owner.");
        break;
      case 'minRam':
      case 'minDisk':
        validateMinimum(change.label, change.value);
        break;
      case 'containerFormat':
      case 'diskFormat':
        if (change.value !== image[change.field] && image.status !== 'queued' && image.status !== 'importing') {
          fail('FORMAT_CHANGE_NOT_ALLOWED', `Attribute ${change.label} can be only replaced for a queued image.`);
        }
        break;
    }
    Object.assign(attributes, { [change.field]: change.value });
  }

  // ---- delete and actions ------------------------------------------------------------------

  async deleteImage(ctx: RequestContext, id: string): Promise<void> {
    const deleted = await retryOnConflict(`Deleting image ${id}`, async () => {
      const image = await this.getImage(ctx, id);
      this.authorizeImage(ctx, 'delete_image', image, 'delete this image');
      if (image.protected) fail('IMAGE_PROTECTED', `Image ${id} is protected and cannot be deleted.`);
      return this.deps.catalog.images.markDeleted(id, { status: image.status, revision: image.revision });
    });
    await this.removeData(deleted);
  }

  /** Deletes every object a deleted image had: locations, big data and any staged data. Errors are logged. */
  async removeData({ image, objects }: DeletedImage): Promise<void> {
    const all = [...objects, { storeId: this.deps.stores.default.id, key: stagingKey(image.id) }];
    await Promise.all(
      all.map(async ({ storeId, key }) => {
        const store = this.deps.stores.get(storeId);
        if (!store) return;
        try {
          // a location added by URL (not under the image's own keys) may be another image's too
          const foreign = key !== image.id && key !== stagingKey(image.id);
          if (foreign && (await this.deps.catalog.images.referencedKeys(storeId, [key])).has(key)) return;
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
    await retryOnConflict(`Changing the status of image ${id}`, () => this.trySetActivation(ctx, id, target));
  }

  /** One attempt; null when the image changed between the read and the conditional write. */
  private async trySetActivation(ctx: RequestContext, id: string, target: 'active' | 'deactivated'): Promise<Image | null> {
    const image = await this.getImage(ctx, id);
    if (target === 'active') this.authorizeImage(ctx, 'reactivate', image, 'reactivate this image');
    else this.authorizeImage(ctx, 'deactivate', image, 'deactivate this image');
    if (image.status === target) return image;
    // Only the two action edges of the status machine: active ⇄ deactivated (queued → active
    // is a transition too, but not one an action may take).
    const from = target === 'active' ? 'deactivated' : 'active';
    if (image.status !== from || !canTransition(image.status, target)) {
      fail('IMAGE_ACTION_NOT_ALLOWED', `Not allowed to ${target === 'active' ? 'reactivate' : 'deactivate'} image in status '${image.status}'`);
    }
    return this.deps.catalog.images.update(id, { attributes: { status: target } }, { status: image.status });
  }

  // ---- tags ------------------------------------------------------------------------------

  async addTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    validateTag(tag);
    await retryOnConflict(`Tagging image ${id}`, async () => {
      const image = await this.getImage(ctx, id);
      this.authorizeImage(ctx, 'modify_image', image);
      if (image.tags.includes(tag)) return image;
      const limit = this.deps.limits.imageTagQuota;
      if (exceeds(image.tags.length + 1, limit)) fail('TAG_QUOTA_EXCEEDED', `Maximum number of tags exceeded (${limit}).`);
      return this.deps.catalog.images.update(id, { tags: [...image.tags, tag] }, { revision: image.revision });
    });
  }

  async removeTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    await retryOnConflict(`Untagging image ${id}`, async () => {
      const image = await this.getImage(ctx, id);
      this.authorizeImage(ctx, 'modify_image', image);
      if (!image.tags.includes(tag)) fail('TAG_NOT_FOUND', `Tag ${tag} not found.`);
      return this.deps.catalog.images.update(id, { tags: image.tags.filter((t) => t !== tag) }, { revision: image.revision });
    });
  }

  // ---- members ---------------------------------------------------------------------------

  private async sharedImage(ctx: RequestContext, id: string): Promise<Image> {
    const image = await this.getImage(ctx, id);
    if (image.visibility !== 'shared') fail('MEMBERS_NOT_SHARED', `Only shared images have members.`);
    return image;
  }

  async listMembers(ctx: RequestContext, imageId: string): Promise<ImageMember[]> {
    const image = await this.sharedImage(ctx, imageId);
    this.authorizeImage(ctx, 'get_members', image, null);
    const members = await this.deps.catalog.members.list(imageId);
    if (isOwnerOrAdmin(ctx, image)) return members;
    return members.filter((m) => m.memberId === ctx.projectId);
  }

  async getMember(ctx: RequestContext, imageId: string, memberId: string): Promise<ImageMember> {
    const image = await this.getImage(ctx, imageId);
    this.authorizeImage(ctx, 'get_member', image, null);
    const member = image.visibility === 'shared' ? await this.deps.catalog.members.get(imageId, memberId) : null;
    if (!member || (!isOwnerOrAdmin(ctx, image) && memberId !== ctx.projectId)) {
      fail('MEMBER_NOT_FOUND', `Member ${memberId} not found for image ${imageId}.`);
    }
    return member;
  }

  async addMember(ctx: RequestContext, imageId: string, memberId: string): Promise<ImageMember> {
    const image = await this.sharedImage(ctx, imageId);
    this.authorizeImage(ctx, 'add_member', image, 'add members to this image');
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
    this.authorizeImage(ctx, 'modify_member', image, null);
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
    this.authorizeImage(ctx, 'delete_member', image, 'remove members of this image');
    if (!(await this.deps.catalog.members.remove(imageId, member.memberId))) {
      fail('MEMBER_NOT_FOUND', `Member ${memberId} not found for image ${imageId}.`);
    }
  }

  /** The `context_is_admin` rule, for surfaces' admin-only operations that have no rule of their own. */
  requireAdminRole(ctx: RequestContext, action: string): void {
    this.policy.enforce(ctx, 'context_is_admin', {}, `You are not authorized to ${action}.`);
  }
}

export function stagingKey(imageId: string): string {
  return `staging/${imageId}`;
}

export function notFound(id: string): GlintError {
  return new GlintError('IMAGE_NOT_FOUND', `No image found with ID ${id}`);
}

/** Properties that count against the property quota: the system's own `os_glance_*` ones do not. */
function countUserProperties(properties: Record<string, string>): number {
  return Object.keys(properties).filter((k) => !k.startsWith('os_glance')).length;
}

function exceeds(count: number, limit: number): boolean {
  return limit >= 0 && count > limit;
}

function dedupe(values: string[]): string[] {
  return [...new Set(values)];
}
