import cluster from 'node:cluster';
import type { Server } from 'node:http';
import { buildApp } from './app';
import type { GlintConfig } from './config/types';
import type { Logger } from './lib/logger';
import { requestClusterMetrics } from './lib/metrics';

export interface ServeOptions {
  logger: Logger;
  /** Apply catalog migrations first (false in cluster workers: the primary has applied them). */
  migrate: boolean;
  /** Message logged once listening. */
  listeningMessage: string;
}

/**
 * Serves the API in this process until SIGTERM/SIGINT, then stops accepting, lets in-flight
 * requests finish (for at most [glint] shutdown_timeout seconds), closes the catalog and stores
 * and exits 0.
 */
export async function serve(config: GlintConfig, options: ServeOptions): Promise<void> {
  const { logger } = options;
  // a worker's GET /metrics answers for the whole node: the primary sums every worker's registry
  const app = await buildApp(config, { logger, migrate: options.migrate, processMetrics: true, metricsText: cluster.isWorker ? () => requestClusterMetrics() : undefined });
  if (cluster.isWorker) app.metrics.serveToPrimary();
  const server: Server = app.koa.listen(config.server.bindPort, config.server.bindHost);
  // Uploads of large images may take long; never cut a slow client by a fixed request timeout.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.server.bindPort;
  logger.info(options.listeningMessage, { host: config.server.bindHost, port, config: config.source, pid: process.pid });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal, pid: process.pid });
    const forced = setTimeout(() => {
      logger.warn('in-flight requests did not finish in time; closing connections');
      server.closeAllConnections();
    }, config.server.shutdownTimeout * 1000);
    forced.unref();
    // Connections that finish their request after close() become idle; keep closing those.
    const reaper = setInterval(() => server.closeIdleConnections(), 100);
    server.close(async () => {
      clearInterval(reaper);
      await app.close();
      logger.info('stopped', { pid: process.pid });
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
