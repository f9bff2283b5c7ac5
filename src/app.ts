import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import { KnexCatalog } from './catalog/knex-catalog';
import type { Catalog } from './domain/repositories';
import type { GlintConfig } from './config/types';
import { AlgorithmService } from './domain/algorithms/algorithm-service';
import { diskFormatPolicy } from './domain/disk-formats';
import { ImageDataService } from './domain/image-data';
import { ImageService } from './domain/image-service';
import { ImportJob } from './domain/imports/import-job';
import { ImportService } from './domain/imports/import-service';
import { IngestPipeline } from './domain/ingest';
import { JobRunner } from './domain/jobs/runner';
import type { Services } from './domain/services';
import { createAuthenticator, type Authenticator } from './http/identity';
import { KeystoneAuthenticator } from './http/keystone';
import { createHttpApp } from './http/server';
import { createAlgoPlatformSurface } from './http/surfaces/algoplatform';
import { createGlanceSurface } from './http/surfaces/glance-v2';
import { createLogger, type Logger } from './lib/logger';
import { StoreRegistry } from './stores/registry';

export interface GlintApp {
  koa: Koa;
  services: Services;
  catalog: Catalog;
  stores: StoreRegistry;
  /** Stops background work and closes the catalog and stores. */
  close(): Promise<void>;
}

export interface BuildOptions {
  logger?: Logger;
  accessLog?: NodeJS.WritableStream | null;
  /** Apply the catalog migrations first (default true). */
  migrate?: boolean;
  /** Run this node's job runner (default true). */
  startWorkers?: boolean;
  /** Authenticator for the keystone flavour (default: KeystoneAuthenticator from [keystone_authtoken]). */
  keystoneAuthenticator?: () => Authenticator;
}

/** Composition root: config → catalog → stores → services → HTTP surfaces. */
export async function buildApp(config: GlintConfig, options: BuildOptions = {}): Promise<GlintApp> {
  const logger = options.logger ?? createLogger();
  const catalog = await KnexCatalog.open(config.database);
  if (options.migrate !== false) await catalog.migrate();
  const stores = new StoreRegistry(config.stores);

  const images = new ImageService({ catalog, stores, limits: config.limits, images: config.images, logger });
  const ingest = new IngestPipeline({ images: catalog.images, limits: config.limits, logger });
  const data = new ImageDataService({ catalog, stores, imports: config.imports, images, ingest, logger, diskFormats: diskFormatPolicy(config.images) });
  // one job runner per node: it claims imports (and later other jobs) from the catalog
  const jobs = new JobRunner({ tasks: catalog.tasks, logger, nodeId: randomUUID(), resultTtlMs: config.imports.taskTimeToLive * 3600_000 });
  jobs.register(new ImportJob({ images: catalog.images, stores, data, ingest, logger }));
  const imports = new ImportService({ catalog, stores, imports: config.imports, images, jobs });
  const services: Services = { images, data, imports };

  const keystone = config.auth.keystone;
  const authenticator = createAuthenticator(
    config.auth,
    options.keystoneAuthenticator ?? (keystone ? () => new KeystoneAuthenticator(keystone, { logger }) : undefined),
  );
  const glance = createGlanceSurface(services, config, authenticator);
  const algorithms = new AlgorithmService({ algorithms: catalog.algorithms, logger });
  const algoPlatform = createAlgoPlatformSurface(algorithms, config, authenticator);
  const koa = createHttpApp({
    // Glance claims every path: it stays last
    surfaces: [algoPlatform, glance],
    logger,
    accessLog: options.accessLog === undefined ? process.stdout : options.accessLog,
  });
  if (options.startWorkers !== false) jobs.start();

  return {
    koa,
    services,
    catalog,
    stores,
    async close() {
      await jobs.stop();
      await stores.close();
      await catalog.close();
    },
  };
}
