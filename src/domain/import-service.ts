import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Catalog, SortDirection, TaskListQuery } from './repositories';
import type { Task, TaskStatus } from './jobs/task';
import type { ImportConfig } from '../config/types';
import type { Logger } from '../lib/logger';
import type { BlobStore } from '../stores/blob-store';
import type { StoreRegistry } from '../stores/registry';
import { hasAdminRole, type RequestContext } from './context';
import { GlintError, fail } from './errors';
import { INSPECTION_HEAD_BYTES } from './format-inspector';
import type { Image } from './image';
import { digestAttributes, type ImageDataService, locationOf } from './image-data';
import type { IngestPipeline } from './ingest';
import { type ImageService, stagingKey } from './image-service';
import { assertAdminRole, assertCanModify } from './policy';

export interface ImportServiceDeps {
  catalog: Catalog;
  stores: StoreRegistry;
  imports: ImportConfig;
  images: ImageService;
  data: ImageDataService;
  ingest: IngestPipeline;
  logger: Logger;
  /** Identifies this node in task leases. */
  nodeId: string;
  /** How often an idle worker looks for tasks queued by other nodes (ms). */
  pollInterval?: number;
}

/** `POST /v2/images/{id}/import` body, after JSON parsing. */
export interface ImportRequest {
  method: unknown;
  stores?: unknown;
  allStores?: unknown;
  allStoresMustSucceed?: unknown;
  /** `X-Image-Meta-Store` header, if sent. */
  headerStore?: string;
}

export interface TaskListRequest {
  limit?: number;
  marker?: string;
  type?: string;
  status?: string;
  sortKey?: string;
  sortDir?: string;
}

/** What a queued import task carries in its `input`. */
interface ImportTaskInput {
  image_id: string;
  method: 'glance-direct' | 'web-download' | 'copy-image';
  uri?: string;
  stores: string[];
  all_stores_must_succeed: boolean;
  [key: string]: unknown;
}

const IMPORT_TASK = 'api_image_import';
const LEGACY_IMPORT_TASK = 'import';
const TASK_TYPES = [IMPORT_TASK, LEGACY_IMPORT_TASK];
const LEASE_MS = 60_000;
/** An import lock older than this is considered abandoned (Glance: 60 min, 120 min while pending). */
const LOCK_TTL_MS = { processing: 60 * 60_000, pending: 120 * 60_000 };
const TASK_STATUSES: readonly TaskStatus[] = ['pending', 'processing', 'success', 'failure'];
const TASK_SORT_KEYS = ['created_at', 'updated_at', 'id', 'type', 'status'] as const;

/**
 * Interoperable import (glance-direct, web-download, copy-image) and the tasks API. Requests only
 * record a task; workers on any node claim tasks from the catalog and run them, so a restart or
 * another node finishes or fails the work.
 */
export class ImportService {
  private running = false;
  /** Aborts the task this node is running, when the node stops. */
  private current: AbortController | null = null;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly pollInterval: number;

  constructor(private readonly deps: ImportServiceDeps) {
    this.pollInterval = deps.pollInterval ?? 1000;
  }

  enabledMethods(): readonly string[] {
    return this.deps.imports.enabledMethods;
  }

  // ---- starting an import ------------------------------------------------------------------

  async startImport(ctx: RequestContext, imageId: string, request: ImportRequest): Promise<void> {
    const { stores } = this.deps;
    const method = request.method as { name?: unknown; uri?: unknown } | undefined;
    if (!method || typeof method !== 'object') fail('IMPORT_METHOD_INVALID', 'Import request requires a "method" object.');
    if (typeof method.name !== 'string') fail('IMPORT_METHOD_INVALID', 'Import request requires a "method" with a "name".');
    const name = method.name;
    if (!(this.enabledMethods() as readonly string[]).includes(name)) fail('IMPORT_METHOD_INVALID', `Import method ${name} is not valid or not enabled.`);
    for (const [field, value] of [['all_stores', request.allStores], ['all_stores_must_succeed', request.allStoresMustSucceed]] as const) {
      if (value !== undefined && typeof value !== 'boolean') fail('BAD_REQUEST', `${field} must be a boolean.`);
    }
    if (request.allStoresMustSucceed === false && !stores.multiStore) fail('BAD_REQUEST', 'all_stores_must_succeed can only be false with multiple stores.');

    const image = await this.deps.images.getImage(ctx, imageId);
    this.checkStatusForImport(image, name);
    if (name === 'copy-image') assertAdminRole(ctx, 'copy existing image data to other stores');
    else assertCanModify(ctx, image, 'import data for this image');
    await this.assertNotLocked(image);

    const targets = this.targetStores(image, name, request);
    if (targets.length === 0) return;
    let uri: string | undefined;
    if (name === 'web-download') uri = this.checkWebDownloadUri(method.uri);

    const input: ImportTaskInput = {
      image_id: image.id,
      method: name as ImportTaskInput['method'],
      stores: targets,
      all_stores_must_succeed: request.allStoresMustSucceed !== false,
      import_req: { method: { name, ...(uri ? { uri } : {}) }, stores: targets },
      backend: targets,
    };
    if (uri) input.uri = uri;
    const task = await this.deps.catalog.tasks.create({
      id: randomUUID(),
      type: IMPORT_TASK,
      owner: ctx.projectId,
      imageId: image.id,
      requestId: ctx.requestId,
      userId: ctx.userId,
      input,
    });
    const locked = await this.deps.catalog.images.update(
      image.id,
      { setProperties: { os_glance_import_task: task.id, os_glance_importing_to_stores: targets.join(','), os_glance_failed_import: '' } },
      { revision: image.revision },
    );
    if (!locked) {
      await this.finishTask(task.id, 'failure', 'Image changed while the import was being started.', null);
      fail('IMPORT_LOCKED', 'Image was changed while the import was being started; try again.');
    }
    this.kick();
  }

  private checkStatusForImport(image: Image, method: string): void {
    if (method === 'copy-image') {
      if (image.status !== 'active') fail('IMAGE_INVALID_STATUS', `Image ${image.id} must be active to be copied (status ${image.status}).`);
      return;
    }
    if (image.status === 'active') fail('IMAGE_INVALID_STATUS', `Image ${image.id} is already active.`);
    if (method === 'glance-direct' && image.status !== 'uploading') fail('IMAGE_INVALID_STATUS', `Image ${image.id} has no staged data (status ${image.status}).`);
    if (method === 'web-download' && image.status !== 'queued') fail('IMAGE_INVALID_STATUS', `Image ${image.id} must be queued for web-download (status ${image.status}).`);
    if (!image.diskFormat || !image.containerFormat) fail('IMAGE_INVALID_STATUS', 'The disk_format and container_format of the image must be set before import.');
  }

  private async assertNotLocked(image: Image): Promise<void> {
    const holder = image.properties.os_glance_import_task;
    if (!holder) return;
    const task = await this.deps.catalog.tasks.get(holder);
    if (!task || (task.status !== 'pending' && task.status !== 'processing')) return;
    const age = Date.now() - task.updatedAt.getTime();
    if (age < LOCK_TTL_MS[task.status]) fail('IMPORT_LOCKED', `Image ${image.id} is being imported by task ${task.id}.`);
  }

  private targetStores(image: Image, method: string, request: ImportRequest): string[] {
    const { stores } = this.deps;
    if (!stores.multiStore) {
      if (method === 'copy-image' && image.locations.some((l) => l.storeId === stores.default.id)) {
        fail('BAD_REQUEST', `Image ${image.id} is already present in store ${stores.default.id}.`);
      }
      return [stores.default.id];
    }
    const listed = request.stores;
    if (listed !== undefined && (!Array.isArray(listed) || listed.some((s) => typeof s !== 'string'))) fail('BAD_REQUEST', 'stores must be a list of store ids.');
    if (listed !== undefined && request.headerStore) fail('BAD_REQUEST', 'Store ids may be given in the body or in X-Image-Meta-Store, not both.');
    const held = new Set(image.locations.map((l) => l.storeId));
    if (request.allStores === true) {
      if (listed !== undefined || request.headerStore) fail('BAD_REQUEST', 'all_stores cannot be combined with a list of stores.');
      const all = stores.all().map((s) => s.id);
      return method === 'copy-image' ? all.filter((id) => !held.has(id)) : all;
    }
    const requested = (listed as string[] | undefined) ?? (request.headerStore ? [request.headerStore] : [stores.default.id]);
    for (const id of requested) {
      if (!stores.get(id)) fail('STORE_UNKNOWN_FOR_IMPORT', `Store ${id} is not one of the configured stores.`);
      if (method === 'copy-image' && held.has(id)) fail('BAD_REQUEST', `Image ${image.id} is already present in store ${id}.`);
    }
    return [...new Set(requested)];
  }

  /** web-download URIs pass `[import_filtering_opts]`; an empty allowed_hosts refuses every host. */
  private checkWebDownloadUri(raw: unknown): string {
    const f = this.deps.imports;
    if (typeof raw !== 'string') fail('IMPORT_URI_REJECTED', 'web-download requires a "uri".');
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      fail('IMPORT_URI_REJECTED', `URI ${raw} is not valid.`);
    }
    const scheme = url.protocol.replace(/:$/, '');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const refuse = () => fail('IMPORT_URI_REJECTED', `URI for web-download does not pass filtering: ${raw}`);
    if (!f.allowedSchemes.includes(scheme) || f.disallowedSchemes.includes(scheme)) refuse();
    if (!f.allowedHosts.includes(host) || f.disallowedHosts.includes(host)) refuse();
    if (url.port) {
      const port = Number(url.port);
      if ((f.allowedPorts.length > 0 && !f.allowedPorts.includes(port)) || f.disallowedPorts.includes(port)) refuse();
    }
    return url.toString();
  }

  // ---- the worker -----------------------------------------------------------------------

  /** Starts the background worker that runs pending tasks (on every node). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.work();
  }

  /** Stops claiming work; a task in flight is interrupted and handed back for any node to resume. */
  async stop(): Promise<void> {
    this.running = false;
    this.current?.abort(new Error('glint is shutting down'));
    this.kick();
    await this.loop;
    this.loop = null;
  }

  private kick(): void {
    this.wake?.();
  }

  private async work(): Promise<void> {
    while (this.running) {
      let task: Task | null = null;
      try {
        task = await this.deps.catalog.tasks.claimNext(TASK_TYPES, this.deps.nodeId, LEASE_MS);
      } catch (err) {
        this.deps.logger.error('task claim failed', { error: String(err) });
      }
      if (task) {
        await this.runClaimed(task);
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.pollInterval);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Runs one claimed task to its end, keeping the lease alive meanwhile. */
  async runClaimed(task: Task): Promise<void> {
    const renew = setInterval(() => {
      this.deps.catalog.tasks.renewLease(task.id, this.deps.nodeId, LEASE_MS).catch((err: unknown) => {
        this.deps.logger.warn('task lease renewal failed', { taskId: task.id, error: String(err) });
      });
    }, LEASE_MS / 3);
    const controller = new AbortController();
    this.current = controller;
    try {
      if (task.type === LEGACY_IMPORT_TASK) await this.runLegacyImport(task, controller.signal);
      else await this.runImport(task, controller.signal);
    } catch (err) {
      if (controller.signal.aborted) {
        this.deps.logger.info('import task interrupted; handing it back', { taskId: task.id });
        await this.deps.catalog.tasks.update(task.id, { status: 'pending' }, 'processing');
        return;
      }
      this.deps.logger.error('import task failed', { taskId: task.id, error: (err as Error)?.stack ?? String(err) });
      await this.finishTask(task.id, 'failure', (err as Error)?.message ?? String(err), null);
    } finally {
      this.current = null;
      clearInterval(renew);
    }
  }

  /**
   * Copies the import source into each target store. A resumed task (its lease expired, or its
   * node stopped) skips the stores that already hold the data.
   */
  private async runImport(task: Task, signal: AbortSignal): Promise<void> {
    const input = task.input as ImportTaskInput;
    const imageId = input.image_id;
    const catalog = this.deps.catalog;
    let image = await catalog.images.get(imageId);
    if (!image) return this.finishTask(task.id, 'failure', `Image ${imageId} no longer exists.`, null);

    const copying = input.method === 'copy-image';
    if (!copying) {
      const from = input.method === 'glance-direct' ? 'uploading' : 'queued';
      const importing = await catalog.images.update(imageId, { attributes: { status: 'importing' } }, { status: [from, 'importing'] });
      if (!importing) return this.finishTask(task.id, 'failure', `Image ${imageId} is not ${from} any more.`, null);
      image = importing;
    }

    const written: Array<{ store: BlobStore }> = [];
    const failed: string[] = [];
    const heldBefore = new Set(copying ? [] : image.locations.map((l) => l.storeId));
    for (const storeId of input.stores) {
      const store = this.deps.stores.get(storeId);
      if (store && heldBefore.has(storeId)) {
        written.push({ store });
        continue;
      }
      try {
        if (!store) throw new GlintError('STORE_UNKNOWN_FOR_IMPORT', `Store ${storeId} is no longer configured.`);
        const first = written.length === 0 && !copying;
        const source = await this.openSource(image, input, written[0]?.store ?? null, signal);
        const { image: after } = await this.deps.ingest.write({
          image,
          store,
          key: imageId,
          source,
          signal,
          commitIf: copying ? 'active' : 'importing',
          headBytes: first ? INSPECTION_HEAD_BYTES : 0,
          commit: (data) => ({
            attributes: first ? digestAttributes(image as Image, data) : {},
            addLocations: [locationOf(data)],
            setProperties: { os_glance_importing_to_stores: remaining(input.stores, storeId, [...written, { store }], failed) },
          }),
          lost: { commit: `Image ${imageId} was deleted during the import.` },
        });
        written.push({ store });
        image = after;
      } catch (err) {
        if (signal.aborted) throw err;
        this.deps.logger.warn('import into store failed', { taskId: task.id, imageId, storeId, error: String(err) });
        failed.push(storeId);
        const current = await catalog.images.update(imageId, {
          setProperties: { os_glance_failed_import: failed.join(','), os_glance_importing_to_stores: remaining(input.stores, storeId, written, failed) },
        });
        if (!current) break;
        image = current;
        if (err instanceof GlintError && err.code === 'IMAGE_GONE') break;
        if (input.all_stores_must_succeed && !copying) break;
      }
    }

    const succeeded = failed.length === 0 || (!input.all_stores_must_succeed && written.length > 0);
    if (input.method === 'glance-direct') await this.deps.data.deleteQuietly(this.deps.stores.default, stagingKey(imageId));
    const unlock = { removeProperties: ['os_glance_import_task'], setProperties: { os_glance_importing_to_stores: '' } };
    if (succeeded) {
      if (!copying) await catalog.images.update(imageId, { ...unlock, attributes: { status: 'active' } }, { status: 'importing' });
      else await catalog.images.update(imageId, unlock);
      return this.finishTask(task.id, 'success', '', { image_id: imageId });
    }
    // Revert: nothing of a failed import stays behind.
    for (const { store } of written) await this.deps.data.deleteQuietly(store, imageId);
    const revertedStores = written.map((w) => w.store.id);
    if (!copying) {
      await catalog.images.update(
        imageId,
        {
          ...unlock,
          attributes: { status: 'queued', size: null, virtualSize: null, checksum: null, osHashAlgo: null, osHashValue: null },
          removeLocationsInStores: revertedStores,
        },
        { status: 'importing' },
      );
    } else {
      await catalog.images.update(imageId, { ...unlock, removeLocationsInStores: revertedStores });
    }
    return this.finishTask(task.id, 'failure', `Import failed for stores: ${failed.join(',')}`, { image_id: imageId });
  }

  /** The import source: staged data, the web, or an existing copy. */
  private async openSource(image: Image, input: ImportTaskInput, firstWritten: BlobStore | null, signal: AbortSignal): Promise<Readable> {
    if (firstWritten) return (await firstWritten.get(image.id)).body;
    if (input.method === 'glance-direct') return (await this.deps.stores.default.get(stagingKey(image.id))).body;
    if (input.method === 'web-download') return this.download(input.uri as string, signal);
    return (await this.deps.data.openFirstLocation(image)).body;
  }

  private async download(uri: string, signal: AbortSignal): Promise<Readable> {
    const response = await fetch(uri, { redirect: 'error', signal });
    if (!response.ok || !response.body) throw new GlintError('IMPORT_URI_REJECTED', `Downloading ${uri} failed with HTTP ${response.status}.`);
    return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  }

  private async finishTask(id: string, status: 'success' | 'failure', message: string, result: Record<string, unknown> | null): Promise<void> {
    const expiresAt = new Date(Date.now() + this.deps.imports.taskTimeToLive * 3600_000);
    await this.deps.catalog.tasks.update(id, { status, message, result, expiresAt });
  }

  // ---- legacy tasks API ------------------------------------------------------------------

  /** `POST /v2/tasks` (admin only): `{"type": "import", "input": {import_from, import_from_format, image_properties}}`. */
  async createTask(ctx: RequestContext, body: Record<string, unknown>): Promise<Task> {
    assertAdminRole(ctx, 'use the tasks API');
    if (body.type !== 'import') fail('BAD_REQUEST', `Invalid task type ${JSON.stringify(body.type)}; only "import" is supported.`);
    const input = body.input as Record<string, unknown> | undefined;
    if (!input || typeof input !== 'object' || Array.isArray(input)) fail('BAD_REQUEST', 'Task input must be an object.');
    const uri = this.checkWebDownloadUri(input.import_from);
    const format = input.import_from_format;
    if (typeof format !== 'string' || !this.deps.images.formatPolicy.diskFormats.includes(format)) {
      fail('BAD_REQUEST', `import_from_format must be one of ${this.deps.images.formatPolicy.diskFormats.join(', ')}.`);
    }
    const properties = (input.image_properties ?? {}) as Record<string, unknown>;
    if (typeof properties !== 'object' || Array.isArray(properties)) fail('BAD_REQUEST', 'image_properties must be an object.');
    const image = await this.deps.images.createImage(ctx, { container_format: 'bare', disk_format: format, ...properties });
    const task = await this.deps.catalog.tasks.create({
      id: randomUUID(),
      type: LEGACY_IMPORT_TASK,
      owner: ctx.projectId,
      imageId: image.id,
      requestId: ctx.requestId,
      userId: ctx.userId,
      input: { ...input, import_from: uri, image_id: image.id },
    });
    this.kick();
    return task;
  }

  private async runLegacyImport(task: Task, signal: AbortSignal): Promise<void> {
    const imageId = task.input.image_id as string;
    const input: ImportTaskInput = {
      image_id: imageId,
      method: 'web-download',
      uri: task.input.import_from as string,
      stores: [this.deps.stores.default.id],
      all_stores_must_succeed: true,
    };
    await this.runImport({ ...task, input }, signal);
  }

  async listTasks(ctx: RequestContext, request: TaskListRequest): Promise<{ tasks: Task[]; mayHaveMore: boolean }> {
    assertAdminRole(ctx, 'use the tasks API');
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
    assertAdminRole(ctx, 'use the tasks API');
    const task = id.length <= 64 ? await this.deps.catalog.tasks.get(id) : null;
    if (!task) fail('TASK_NOT_FOUND', `Task with the given ID ${id} not found`);
    return task;
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

function remaining(all: string[], current: string, written: Array<{ store: BlobStore }>, failed: string[]): string {
  const done = new Set([current, ...written.map((w) => w.store.id), ...failed]);
  return all.filter((id) => !done.has(id)).join(',');
}
