import type { Server } from 'node:http';
import { buildApp } from './app';
import { ConfigError, configPathFromArgs, loadConfig } from './config/load';
import { createLogger } from './lib/logger';

async function main(): Promise<void> {
  const logger = createLogger();
  let config;
  try {
    config = loadConfig({ file: configPathFromArgs(process.argv.slice(2), process.env) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`glint: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const app = await buildApp(config, { logger });
  const server: Server = app.koa.listen(config.server.bindPort, config.server.bindHost);
  // Uploads of large images may take long; never cut a slow client by a fixed request timeout.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  logger.info('glint listening', { host: config.server.bindHost, port: config.server.bindPort, config: config.source });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
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
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`glint: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
