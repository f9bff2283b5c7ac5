import { randomUUID } from 'node:crypto';
import type { ImportConfig } from '../../config/types';
import type { StoreRegistry } from '../../stores/registry';
import { hasAdminRole, type RequestContext } from '../context';
import { fail } from '../errors';
import type { Image } from '../image';
import type { NewImage } from '../image-commands';
import type { ImageService } from '../image-service';
import type { JobQueue } from '../jobs/handler';
import type { Task, TaskStatus } from '../jobs/task';
import type { Catalog, SortDirection, TaskListQuery } from '../repositories';
import { IMPORT_TASK, LEGACY_IMPORT_TASK, type ImportMethod, type ImportTaskInput, type LegacyImportTaskInput } from './import-task';
import { filterWebDownloadUri } from './web-download';

export interface ImportServiceDeps {
  catalog: Pick<Catalog, 'images' | 'tasks'>;
  stores: StoreRegistry;
  imports: ImportConfig;
  images: ImageService;
  /** Where import tasks are queued; the job runner of any node runs them (./import-job.ts). */
  jobs: JobQueue;
}

/** Start an interoperable import of an image's data. */
export interface StartImport {
  method: ImportMethod;
  /** web-download's source URL; absent when not given (the service then refuses it). */
  uri?: string;
  /** Multi-store: the target stores listed in the request (ignored on a single store). */
  stores?: string[];
  /** Multi-store: the target store named outside the request body (Glance: `X-Image-Meta-Store`). */
  storeFromHeader?: string;
  /** Multi-store: every store (for copy-image, every store not holding the image yet). */
  allStores: boolean;
  /** When false (multi-store only), the import succeeds once any store has the data. */
  allStoresMustSucceed: boolean;
}

/** The deprecated tasks API's import: create an image, then web-download into it. */
export interface LegacyImport {
  /** The source URL; absent when not given (the service then refuses it). */
  importFrom?: string;
  /** The image to create. */
  image: NewImage;
  /** The task's input as the client sent it; stored and shown with the task. */
  input: Record<string, unknown>;
}

export interface TaskListRequest {
  limit?: number;
  marker?: string;
  type?: string;
  status?: string;
  sortKey?: string;
  sortDir?: string;
}

/** An import lock older than this is considered abandoned (Glance: 60 min, 120 min while pending). */
const LOCK_TTL_MS = { processing: 60 * 60_000, pending: 120 * 60_000 };
const TASK_STATUSES: readonly TaskStatus[] = ['pending', 'processing', 'success', 'failure'];
const TASK_SORT_KEYS = ['created_at', 'updated_at', 'id', 'type', 'status'] as const;

/**
 * The request side of imports and the tasks API: checks a request against the image, the caller
 * and the configuration, locks the image and queues a task. The import itself is a job
 * (./import-job.ts), run by whichever node claims it.
 */
export class ImportService {
  constructor(private readonly deps: ImportServiceDeps) {}

  enabledMethods(): readonly ImportMethod[] {
    return this.deps.imports.enabledMethods;
  }

  // ---- starting an import ------------------------------------------------------------------

  /**
   * Checks, in Glance's order: the method is enabled; all_stores_must_succeed=false needs
   * multi-store; the image is visible (404), in a status the method accepts (409) and the caller
   * may import into it (403); no other import holds it (409); the target stores (400/409); the
   * web-download URI (400). Then locks the image for a new `api_image_import` task and queues it.
   */
  async startImport(ctx: RequestContext, imageId: string, request: StartImport): Promise<void> {
    const { stores } = this.deps;
    const method = request.method;
    if (!this.enabledMethods().includes(method)) fail('IMPORT_METHOD_INVALID', `Import method ${method} is not valid or not enabled.`);
    if (!request.allStoresMustSucceed && !stores.multiStore) fail('BAD_REQUEST', 'all_stores_must_succeed can only be false with multiple stores.');

    const image = await this.deps.images.getImage(ctx, imageId);
    this.checkStatusForImport(image, method);
    if (method === 'copy-image') this.deps.images.authorizeImage(ctx, 'copy_image', image, null);
    else this.deps.images.authorizeImage(ctx, 'modify_image', image, 'import data for this image');
    await this.assertNotLocked(image);

    const targets = this.targetStores(image, request);
    if (targets.length === 0) return;
    const uri = method === 'web-download' ? filterWebDownloadUri(request.uri, this.deps.imports) : undefined;

    const input: ImportTaskInput = {
      image_id: image.id,
      method,
      stores: targets,
      all_stores_must_succeed: request.allStoresMustSucceed,
      import_req: { method: { name: method, ...(uri ? { uri } : {}) }, stores: targets },
      backend: targets,
      // the import plugins' view of the caller (inject_image_metadata's ignore_user_roles)
      roles: [...ctx.roles],
    };
    if (uri) input.uri = uri;
    // Lock first, as Glance does: a node may claim the task the moment it is queued, and the job
    // fails a task the image is not locked for.
    const taskId = randomUUID();
    const locked = await this.deps.catalog.images.update(
      image.id,
      { setProperties: { os_glance_import_task: taskId, os_glance_importing_to_stores: targets.join(','), os_glance_failed_import: '' } },
      { revision: image.revision },
    );
    if (!locked) fail('IMPORT_LOCKED', 'Image was changed while the import was being started; try again.');
    try {
      await this.deps.jobs.enqueue({ id: taskId, type: IMPORT_TASK, owner: ctx.projectId, imageId: image.id, requestId: ctx.requestId, userId: ctx.userId, input });
    } catch (err) {
      const unlock = { removeProperties: ['os_glance_import_task'], setProperties: { os_glance_importing_to_stores: '' } };
      await this.deps.catalog.images.update(image.id, unlock, { revision: locked.revision }).catch(() => null);
      throw err;
    }
  }

  private checkStatusForImport(image: Image, method: ImportMethod): void {
    if (method === 'copy-image') {
      if (image.status !== 'active') fail('IMAGE_INVALID_STATUS', `Image ${image.id} must be active to be copied (status ${image.status}).`);
      return;
    }
    if (image.status === 'active') fail('IMAGE_INVALID_STATUS', `Image ${image.id} is already active.`);
    if (method === 'glance-direct' && image.status !== 'uploading') fail('IMAGE_INVALID_STATUS', `Image ${image.id} has no staged data (status ${image.status}).`);
    if (method === 'web-download' && image.status !== 'queued') fail('IMAGE_INVALID_STATUS', `Image ${image.id} must be queued for web-download (status ${image.status}).`);
    if (!image.diskFormat || !image.containerFormat) fail('IMAGE_INVALID_STATUS', 'The disk_format and container_format of the image must be set before import.');
  }

  /** IMPORT_LOCKED while a live task (an import, a location import) holds the image's lock. */
  async assertNotLocked(image: Image): Promise<void> {
    const holder = image.properties.os_glance_import_task;
    if (!holder) return;
    const task = await this.deps.catalog.tasks.get(holder);
    if (!task || (task.status !== 'pending' && task.status !== 'processing')) return;
    const now = Date.now();
    // a node still renewing its lease is working on it, however long the import takes
    const leased = task.status === 'processing' && task.leaseExpiresAt !== null && task.leaseExpiresAt.getTime() > now;
    if (leased || now - task.updatedAt.getTime() < LOCK_TTL_MS[task.status]) fail('IMPORT_LOCKED', `Image ${image.id} is being imported by task ${task.id}.`);
  }

  /** The stores to import into; on a single store always the default one. */
  private targetStores(image: Image, request: StartImport): string[] {
    const { stores } = this.deps;
    const copying = request.method === 'copy-image';
    if (!stores.multiStore) {
      if (copying && image.locations.some((l) => l.storeId === stores.default.id)) {
        fail('BAD_REQUEST', `Image ${image.id} is already present in store ${stores.default.id}.`);
      }
      return [stores.default.id];
    }
    const listed = request.stores;
    const header = request.storeFromHeader;
    if (listed !== undefined && header) fail('BAD_REQUEST', 'Store ids may be given in the body or in X-Image-Meta-Store, not both.');
    const held = new Set(image.locations.map((l) => l.storeId));
    if (request.allStores) {
      if (listed !== undefined || header) fail('BAD_REQUEST', 'all_stores cannot be combined with a list of stores.');
      const all = stores.all().map((s) => s.id);
      return copying ? all.filter((id) => !held.has(id)) : all;
    }
    const requested = listed ?? (header ? [header] : [stores.default.id]);
    for (const id of requested) {
      if (!stores.get(id)) fail('STORE_UNKNOWN_FOR_IMPORT', `Store ${id} is not one of the configured stores.`);
      if (copying && held.has(id)) fail('BAD_REQUEST', `Image ${image.id} is already present in store ${id}.`);
    }
    return [...new Set(requested)];
  }

  // ---- legacy tasks API ------------------------------------------------------------------

  /** Admin only: filters the source URL, creates the image, queues an `import` task for it. */
  async createTask(ctx: RequestContext, request: LegacyImport): Promise<Task> {
    this.authorizeTasks(ctx, 'add_task');
    const uri = filterWebDownloadUri(request.importFrom, this.deps.imports);
    const image = await this.deps.images.createImage(ctx, request.image);
    const input: LegacyImportTaskInput = { ...request.input, import_from: uri, image_id: image.id };
    return this.deps.jobs.enqueue({
      type: LEGACY_IMPORT_TASK,
      owner: ctx.projectId,
      imageId: image.id,
      requestId: ctx.requestId,
      userId: ctx.userId,
      input,
    });
  }

  async listTasks(ctx: RequestContext, request: TaskListRequest): Promise<{ tasks: Task[]; mayHaveMore: boolean }> {
    this.authorizeTasks(ctx, 'get_tasks');
    if (request.type !== undefined && request.type !== 'import') fail('BAD_QUERY', `Invalid type value: ${request.type}`);
    if (request.status !== undefined && !TASK_STATUSES.includes(request.status as TaskStatus)) fail('BAD_QUERY', `Invalid status value: ${request.status}`);
    const sortKey = request.sortKey ?? 'created_at';
    if (!(TASK_SORT_KEYS as readonly string[]).includes(sortKey)) fail('BAD_QUERY', `Invalid sort_key: ${sortKey}`);
    const sortDir = request.sortDir ?? 'desc';
    if (sortDir !== 'asc' && sortDir !== 'desc') fail('BAD_QUERY', `Invalid sort_dir: ${sortDir}`);
    const limit = Math.min(request.limit ?? 25, 1000);
    let marker: Task | undefined;
    if (request.marker !== undefined) {
      marker = (await this.deps.catalog.tasks.get(request.marker)) ?? undefined;
      if (!marker) fail('BAD_QUERY', `Invalid marker: task ${request.marker} could not be found.`);
    }
    if (limit === 0) return { tasks: [], mayHaveMore: false };
    const query: TaskListQuery = {
      type: request.type === 'import' ? undefined : request.type,
      status: request.status as TaskStatus | undefined,
      sort: { key: sortKey as TaskListQuery['sort']['key'], dir: sortDir as SortDirection },
      marker,
      limit,
    };
    const tasks = await this.deps.catalog.tasks.list(query);
    return { tasks, mayHaveMore: tasks.length === limit };
  }

  async getTask(ctx: RequestContext, id: string): Promise<Task> {
    this.authorizeTasks(ctx, 'get_task');
    const task = id.length <= 64 ? await this.deps.catalog.tasks.get(id) : null;
    if (!task) fail('TASK_NOT_FOUND', `Task with the given ID ${id} not found`);
    return task;
  }

  /** Glance: `tasks_api_access` for every tasks call, then the call's own rule. */
  private authorizeTasks(ctx: RequestContext, rule: 'add_task' | 'get_tasks' | 'get_task'): void {
    this.deps.images.authorize(ctx, 'tasks_api_access', { project_id: ctx.projectId }, 'You are not authorized to use the tasks API.');
    this.deps.images.authorize(ctx, rule);
  }

  /** `GET /v2/images/{id}/tasks`: the caller's unexpired tasks of a visible image. */
  async listImageTasks(ctx: RequestContext, imageId: string): Promise<Task[]> {
    await this.deps.images.getImage(ctx, imageId);
    const tasks = await this.deps.catalog.tasks.list({ imageId, sort: { key: 'created_at', dir: 'desc' }, limit: 1000 });
    const now = Date.now();
    return tasks.filter(
      (t) => (t.expiresAt === null || t.expiresAt.getTime() > now) && (hasAdminRole(ctx) || ctx.isAdmin || t.owner === null || t.owner === ctx.projectId),
    );
  }
}
