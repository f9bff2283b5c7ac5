import type { Image, ImageLocation, ImageMember } from '../../../domain/image';
import type { Task } from '../../../domain/jobs/task';

/** Glance's timestamp form: UTC, second precision, literal Z. */
export function glanceTime(date: Date): string {
  const year = date.getUTCFullYear();
  // toISOString writes other years with a sign and six digits; the fields below cost a third of it.
  if (year < 1000 || year > 9999) return `${date.toISOString().slice(0, -5)}Z`;
  return (
    year + '-' + twoDigits(date.getUTCMonth() + 1) + '-' + twoDigits(date.getUTCDate()) +
    'T' + twoDigits(date.getUTCHours()) + ':' + twoDigits(date.getUTCMinutes()) + ':' + twoDigits(date.getUTCSeconds()) + 'Z'
  );
}

function twoDigits(value: number): string {
  return value < 10 ? '0' + value : String(value);
}

export interface ImagePresentation {
  /** Whether several stores are configured (then images show their `stores`). */
  multiStore: boolean;
  /** A location as a URL (`file:///…`, `s3://…`), if its store is still configured. */
  locationUrl(location: ImageLocation): string | undefined;
  showDirectUrl: boolean;
  showLocations: boolean;
}

/** The image document of Glance §5, in Glance 25.1's key order: custom properties first. */
export function presentImage(image: Image, options: ImagePresentation): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(image.properties)) {
    if (key !== 'os_glance_stage_host') doc[key] = value;
  }
  Object.assign(doc, {
    name: image.name,
    disk_format: image.diskFormat,
    container_format: image.containerFormat,
    visibility: image.visibility,
    size: image.size,
    virtual_size: image.virtualSize,
    status: image.status,
    checksum: image.checksum,
    protected: image.protected,
    min_ram: image.minRam,
    min_disk: image.minDisk,
    owner: image.owner,
    os_hidden: image.osHidden,
    os_hash_algo: image.osHashAlgo,
    os_hash_value: image.osHashValue,
    id: image.id,
    created_at: glanceTime(image.createdAt),
    updated_at: glanceTime(image.updatedAt),
    tags: image.tags,
    self: `/v2/images/${image.id}`,
    file: `/v2/images/${image.id}/file`,
    schema: '/v2/schemas/image',
  });
  const url = (l: ImageLocation) => options.locationUrl(l);
  if (options.showDirectUrl && image.locations.length > 0) {
    const direct = url(image.locations[0]);
    if (direct) doc.direct_url = direct;
  }
  if (options.showLocations) doc.locations = image.locations.map((l) => ({ url: url(l) ?? '', metadata: l.metadata }));
  if (options.multiStore) {
    const ids = image.locations.map((l) => l.storeId);
    if (ids.length > 0) doc.stores = ids.join(',');
  }
  return doc;
}

export function presentMember(member: ImageMember): Record<string, unknown> {
  return {
    member_id: member.memberId,
    image_id: member.imageId,
    status: member.status,
    created_at: glanceTime(member.createdAt),
    updated_at: glanceTime(member.updatedAt),
    schema: '/v2/schemas/member',
  };
}

/** `GET /v2/tasks/{id}` and task create: Glance leaves out image_id, request_id, user_id and expires_at when unset. */
export function presentTask(task: Task): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    id: task.id,
    input: task.input,
    type: task.type,
    status: task.status,
    owner: task.owner,
    message: task.message,
    result: task.result,
    created_at: glanceTime(task.createdAt),
    updated_at: glanceTime(task.updatedAt),
    self: `/v2/tasks/${task.id}`,
    schema: '/v2/schemas/task',
  };
  if (task.imageId) doc.image_id = task.imageId;
  if (task.requestId) doc.request_id = task.requestId;
  if (task.userId) doc.user_id = task.userId;
  if (task.expiresAt) doc.expires_at = glanceTime(task.expiresAt);
  return doc;
}

/** `GET /v2/tasks` entries: Glance's task stub, without input, result, message and the ids. */
export function presentTaskStub(task: Task): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    id: task.id,
    type: task.type,
    status: task.status,
    owner: task.owner,
    created_at: glanceTime(task.createdAt),
    updated_at: glanceTime(task.updatedAt),
    self: `/v2/tasks/${task.id}`,
    schema: '/v2/schemas/task',
  };
  if (task.expiresAt) doc.expires_at = glanceTime(task.expiresAt);
  return doc;
}

/** `GET /v2/images/{id}/tasks` entries: naive ISO timestamps with microseconds (spec §16). */
export function presentImageTask(task: Task): Record<string, unknown> {
  const naive = (d: Date | null) => (d ? `${d.toISOString().slice(0, 23)}000` : null);
  return {
    id: task.id,
    type: task.type,
    status: task.status,
    owner: task.owner,
    expires_at: naive(task.expiresAt),
    created_at: naive(task.createdAt),
    updated_at: naive(task.updatedAt),
    deleted_at: null,
    deleted: false,
    image_id: task.imageId,
    request_id: task.requestId,
    user_id: task.userId,
    input: task.input,
    result: task.result,
    message: task.message,
  };
}

const MIB = 1024 * 1024;

/**
 * `GET /v2/info/usage`: Glance's unified-limits usage document (sizes in MiB, rounded down) for
 * the quotas glint has configured — `user_storage_quota` as `image_size_total`; `{}` when none is.
 */
export function presentUsage(storage: { usedBytes: number; quotaBytes: number } | null): Record<string, unknown> {
  if (!storage) return {};
  return { image_size_total: { usage: Math.floor(storage.usedBytes / MIB), limit: Math.floor(storage.quotaBytes / MIB) } };
}
