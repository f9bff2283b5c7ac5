import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import { KnexCatalog } from './catalog/knex-catalog';
import { KnexFileRecordRepository } from './catalog/knex-file-management';
import { guardUnreachable } from './catalog/unreachable';
import type { Catalog } from './domain/repositories';
import type { GlintConfig } from './config/types';
import { AlgorithmService } from './domain/algorithms/algorithm-service';
import { diskFormatPolicy } from './domain/disk-formats';
import { ChunkedUploadService } from './domain/file-management/chunked-uploads';
import { priorityTarget } from './domain/file-management/rules';
import { FileManagementService } from './domain/file-management/service';
import { ImageDataService } from './domain/image-data';
import { ImageService } from './domain/image-service';
import { ImportJob } from './domain/imports/import-job';
import { ImportService } from './domain/imports/import-service';
import { buildImportPlugins } from './domain/imports/plugins';
import { LocationImportJob } from './domain/locations/location-import-job';
import { LocationService } from './domain/locations/location-service';
import { IngestPipeline } from './domain/ingest';
import { ImageFiles } from './domain/imageops/image-file';
import { ImageOpsJob } from './domain/imageops/imageops-job';
import { QemuImg } from './domain/imageops/qemu-img';
import { ImageOpsService } from './domain/imageops/service';
import { JobRunner } from './domain/jobs/runner';
import { type PolicyEnforcer, policyFromConfig } from './domain/policy';
import { metadefAuthorizerFrom } from './domain/metadefs/policy';
import { MetadefService } from './domain/metadefs/service';
import { Reconciler } from './domain/reconciler';
import type { Services } from './domain/services';
import { createAuthenticator, type Authenticator } from './http/identity';
import { KeystoneAuthenticator } from './http/keystone';
import { loadApiSpecs } from './http/api-specs';
import { createHttpApp, listRoutes } from './http/server';
import { createAlgoPlatformSurface } from './http/surfaces/algoplatform';
import { createFileManagementSurface } from './http/surfaces/file-management';
import { chunkRoutes } from './http/surfaces/file-management/chunk-routes';
import { createGlanceSurface } from './http/surfaces/glance-v2';
import { createImageOpsSurface } from './http/surfaces/imageops';
import { createLogger, createPino, type Logger } from './lib/logger';
import { GlintMetrics } from './lib/metrics';
import { observeStore } from './stores/observed';
import { createStore, StoreRegistry } from './stores/registry';

export interface GlintApp {
  koa: Koa;
  services: Services;
  catalog: Catalog;
  stores: StoreRegistry;
  metrics: GlintMetrics;
  /** This node's reconciler (started with the workers; `runOnce` for a single pass). */
  reconciler: Reconciler;
  /** Every route the app answers (server and surfaces), templates in OpenAPI form. */
  routes: Array<{ surface: string; method: string; path: string }>;
  /** Stops background work and closes the catalog and stores. */
  close(): Promise<void>;
}

export interface BuildOptions {
  /** The application log (default: pino on stderr, level and format from `[glint]`). */
  logger?: Logger;
  /** Where request-log events go (default stdout); null = no request log. */
  accessLog?: NodeJS.WritableStream | null;
  /** Add process_* and nodejs_* metrics (CPU, memory, event loop); the served process does. */
  processMetrics?: boolean;
  /** What GET /metrics answers (default: this app's registry); a cluster worker asks its primary. */
  metricsText?: () => Promise<string>;
  /** Apply the catalog migrations first (default true). */
  migrate?: boolean;
  /** Run this node's job runner (default true). */
  startWorkers?: boolean;
  /** Authenticator for the keystone flavour (default: KeystoneAuthenticator from [keystone_authtoken]). */
  keystoneAuthenticator?: () => Authenticator;
}

/** Composition root: config → catalog → stores → services → HTTP surfaces. */
export async function buildApp(config: GlintConfig, options: BuildOptions = {}): Promise<GlintApp> {
  const logFormat = { level: config.server.logLevel, format: config.server.logFormat };
  const logger = options.logger ?? createLogger(logFormat);
  // before anything opens: a bad policy file stops start-up with the rule it names
  const policy = buildPolicy(config, logger);
  const metrics = new GlintMetrics({ defaultMetrics: options.processMetrics === true });
  const catalog = await KnexCatalog.open(config.database);
  catalog.knex.on('query-error', (err: { code?: unknown } | null, query: { method?: unknown } | null) => {
    metrics.catalogErrors.inc({ operation: String(query?.method ?? 'raw'), code: String(err?.code ?? 'unknown') });
  });
  if (options.migrate !== false) await catalog.migrate();
  const stores = new StoreRegistry(config.stores, (storeConfig) =>
    observeStore(createStore(storeConfig), (store, operation, kind) => metrics.storeErrors.inc({ store, operation, kind })),
  );

  const images = new ImageService({ catalog, stores, limits: config.limits, logger, policy });
  const ingest = new ObservedIngestPipeline(metrics, { images: catalog.images, limits: config.limits, logger, writeLeaseMs: config.recovery.writeLeaseMs });
  const data = new ImageDataService({ catalog, stores, imports: config.imports, images, ingest, logger, diskFormats: diskFormatPolicy(config.images) });
  // one job runner per node: it claims imports (and later other jobs) from the catalog
  const resultTtlMs = config.imports.taskTimeToLive * 3600_000;
  const jobs = new JobRunner({ tasks: catalog.tasks, logger, nodeId: randomUUID(), resultTtlMs, leaseMs: config.recovery.jobLeaseMs });
  const plugins = buildImportPlugins(config.imports, diskFormatPolicy(config.images));
  jobs.register(new ImportJob({ images: catalog.images, stores, data, ingest, logger, plugins }));
  // imageops: check and compress jobs (qemu-img), any node answers for any job
  const imageOpsConfig = config.imageOps;
  const imageFiles = new ImageFiles({ stores, tempDir: imageOpsConfig.tempDir, logger });
  jobs.register(
    new ImageOpsJob({
      catalog,
      images,
      data,
      files: imageFiles,
      qemu: new QemuImg(imageOpsConfig.qemuImg),
      jobs,
      logger,
      minFreeSpacePercent: imageOpsConfig.minFreeSpacePercent,
      convertRateLimit: imageOpsConfig.convertRateLimit,
      concurrency: imageOpsConfig.maxConcurrentJobs,
      timeoutMs: imageOpsConfig.jobTimeoutMs,
    }),
  );
  // EdgeGallery file records: namespaced attributes of Glance images (imageops resolves their save names)
  const fileRecords = guardUnreachable(new KnexFileRecordRepository(catalog.knex));
  const fileNameOf = async (imageId: string) => (await fileRecords.get(imageId))?.fileName ?? null;
  const imageOps = new ImageOpsService({ catalog, images, jobs, files: imageFiles, logger, minFreeSpacePercent: imageOpsConfig.minFreeSpacePercent, resultTtlMs, fileNameOf });
  const files = new FileManagementService({
    images,
    data,
    ingest,
    records: fileRecords,
    stores,
    imageOps,
    config: config.edgeGallery,
    diskFormats: diskFormatPolicy(config.images),
    acceptedDiskFormats: config.images.diskFormats,
    logger,
  });
  const imports = new ImportService({ catalog, stores, imports: config.imports, images, jobs });
  const locations = new LocationService({
    catalog,
    stores,
    images,
    imports,
    jobs,
    logger,
    showMultipleLocations: config.images.showMultipleLocations,
    locationQuota: config.limits.imageLocationQuota,
    hashingAlgorithm: config.images.hashingAlgorithm,
  });
  jobs.register(
    new LocationImportJob({
      images: catalog.images,
      stores,
      logger,
      doSecureHash: config.imports.doSecureHash,
      hashAttempts: config.imports.httpRetries,
      hashingAlgorithm: config.images.hashingAlgorithm,
      deleteUnreferenced: (objects) => locations.deleteUnreferenced(objects),
    }),
  );
  // metadef rules through the same policy (Glance's get_metadef_* / *_metadef_* defaults or the policy file)
  const metadefs = new MetadefService({ metadefs: catalog.metadefs, authorize: metadefAuthorizerFrom(policy) });
  const services: Services = { images, data, imports, metadefs, imageOps, locations };
  metrics.observe(metrics.jobsInFlight, () => jobs.inFlight);
  metrics.observeLabelled(metrics.jobQueueDepth, () => catalog.tasks.countPendingByType());

  const keystone = config.auth.keystone;
  const authenticator = judgedByPolicy(
    createAuthenticator(config.auth, options.keystoneAuthenticator ?? (keystone ? () => new KeystoneAuthenticator(keystone, { logger }) : undefined)),
    policy,
  );
  const glance = createGlanceSurface(services, config, authenticator);
  const algorithms = new AlgorithmService({ algorithms: catalog.algorithms, logger });
  const algoPlatform = createAlgoPlatformSurface(algorithms, config, authenticator);
  // Glance claims every path: it stays last
  const imageOpsSurface = createImageOpsSurface(imageOps, config, authenticator);
  // chunks staged as objects in the default store, recorded in the catalog: any node takes any chunk or merge
  const chunkedUploads = new ChunkedUploadService({
    uploads: catalog.chunkedUploads,
    stores,
    ingest,
    files,
    logger,
    expiryMs: config.edgeGallery.chunkUploadExpiryMs,
    acceptsPriority: (priority) => acceptsPriority(() => priorityTarget(priority, config.edgeGallery.priorityStores, stores)),
  });
  const fileManagement = createFileManagementSurface(files, config, authenticator, [chunkRoutes(chunkedUploads)]);
  const surfaces = [algoPlatform, imageOpsSurface, fileManagement, glance];
  const specs = loadApiSpecs();
  if (specs.size === 0) logger.warn('no OpenAPI documents found; GET /api-spec/ serves none');
  const koa = createHttpApp({
    surfaces,
    logger,
    requestLog:
      options.accessLog === null
        ? null
        : createPino({ ...logFormat, stream: options.accessLog ?? 1, buffered: options.accessLog === undefined }),
    metrics,
    metricsText: options.metricsText ?? (() => metrics.text()),
    specs,
  });
  // every node runs one: writes whose node died, unfinished imports, objects nothing references
  const reconciler = new Reconciler({
    catalog,
    stores,
    logger,
    intervalMs: config.recovery.reconcileIntervalMs,
    orphanGraceMs: config.recovery.orphanGraceMs,
    // abandoned chunked uploads: conditional deletes, safe on every node at once
    expirySweeps: [{ name: 'chunked uploads', sweep: (now) => chunkedUploads.sweepExpired(now) }],
  });
  if (options.startWorkers !== false) {
    jobs.start();
    reconciler.start();
    // scratch folders of processes that died mid-job (a live job's is younger than its time-out)
    void imageFiles.sweep(2 * imageOpsConfig.jobTimeoutMs);
  }

  return {
    koa,
    services,
    catalog,
    stores,
    metrics,
    reconciler,
    routes: listRoutes(surfaces),
    async close() {
      await reconciler.stop();
      await jobs.stop();
      await stores.close();
      await catalog.close();
    },
  };
}

/** `[oslo_policy]`: Glance's rules, the operator's policy file over them; throws PolicyError naming a bad rule. */
function buildPolicy(config: GlintConfig, logger: Logger): PolicyEnforcer {
  const { policy, fileRules } = policyFromConfig(config.policy);
  if (fileRules !== null) logger.info('policy file loaded', { policyFile: config.policy.policyFile, rules: fileRules });
  return policy;
}

/** Every authenticated context gets Glance's `is_admin` from the policy's `context_is_admin` rule. */
function judgedByPolicy(authenticator: Authenticator, policy: PolicyEnforcer): Authenticator {
  return {
    adoptsRequestId: authenticator.adoptsRequestId,
    wwwAuthenticate: authenticator.wwwAuthenticate,
    authenticate: async (ctx, requestId) => policy.judge(await authenticator.authenticate(ctx, requestId)),
  };
}

/** Whether `resolve` (a priority's store) succeeds; a refused priority is false. */
function acceptsPriority(resolve: () => unknown): boolean {
  try {
    resolve();
    return true;
  } catch {
    return false;
  }
}

/** The ingest pipeline, counting the writes streaming into a store (uploads, stages, imports). */
class ObservedIngestPipeline extends IngestPipeline {
  constructor(
    private readonly metrics: GlintMetrics,
    deps: ConstructorParameters<typeof IngestPipeline>[0],
  ) {
    super(deps);
  }

  override async write(...args: Parameters<IngestPipeline['write']>): ReturnType<IngestPipeline['write']> {
    this.metrics.uploadsInFlight.inc();
    try {
      return await super.write(...args);
    } finally {
      this.metrics.uploadsInFlight.dec();
    }
  }
}
