import cluster, { type Worker } from 'node:cluster';
import { KnexCatalog } from './catalog/knex-catalog';
import type { GlintConfig } from './config/types';
import type { Logger } from './lib/logger';
import { serveClusterMetrics } from './lib/metrics';

/** A worker that dies sooner than this after its start counts as failing to start. */
const EARLY_EXIT_MS = 5_000;
/** Restarts of early-exiting workers in a row before the primary gives up. */
const MAX_EARLY_EXITS = 5;

/**
 * The primary of `[DEFAULT] workers` processes, as Glance runs them: it applies the catalog
 * migrations once, forks the workers (each a whole glint serving on the shared port; node's
 * cluster module hands connections out round-robin), replaces a worker that dies, and on
 * SIGTERM/SIGINT passes the signal on and exits once every worker has drained (0 when all
 * exited cleanly). Workers keep nothing another needs: all state is in the catalog and stores.
 */
export async function runPrimary(config: GlintConfig, logger: Logger): Promise<void> {
  const catalog = await KnexCatalog.open(config.database);
  try {
    await catalog.migrate();
  } finally {
    await catalog.close();
  }

  const count = config.server.workers;
  const startedAt = new Map<Worker, number>();
  let listening = 0;
  let earlyExits = 0;
  let stopping = false;
  let failed = false;

  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker, Date.now());
    worker.once('listening', (address) => {
      listening += 1;
      earlyExits = 0;
      if (listening === count) {
        logger.info('glint listening', { host: config.server.bindHost, port: address.port, config: config.source, workers: count });
      }
    });
  };

  const stopAll = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };

  cluster.on('exit', (worker, code, signal) => {
    const started = startedAt.get(worker) ?? 0;
    startedAt.delete(worker);
    if (stopping) {
      // A worker still starting has no handler yet, and the signal itself ends it: also clean.
      if (code !== 0 && signal !== 'SIGTERM') failed = true;
      if (startedAt.size === 0) process.exit(failed ? 1 : 0);
      return;
    }
    logger.error('worker exited; starting another', { pid: worker.process.pid, code, signal });
    if (Date.now() - started < EARLY_EXIT_MS && ++earlyExits >= MAX_EARLY_EXITS) {
      logger.error('workers keep exiting at start-up; stopping', { attempts: earlyExits });
      stopAll('SIGTERM');
      failed = true;
      if (startedAt.size === 0) process.exit(1);
      return;
    }
    fork();
  });

  process.on('SIGTERM', () => stopAll('SIGTERM'));
  process.on('SIGINT', () => stopAll('SIGTERM'));
  // a worker asked for GET /metrics gets every worker's metrics, aggregated here
  serveClusterMetrics(cluster);
  for (let i = 0; i < count; i++) fork();
}
