import cluster from 'node:cluster';
import { runPrimary } from './cluster';
import { ConfigError, configPathFromArgs, loadConfig } from './config/load';
import { PolicyError, policyFromConfig } from './domain/policy';
import { createLogger } from './lib/logger';
import { serve } from './serve';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig({ file: configPathFromArgs(process.argv.slice(2), process.env) });
    // before any worker forks: a policy file that cannot be used stops the server here
    policyFromConfig(config.policy);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`glint: configuration error: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof PolicyError) {
      process.stderr.write(`glint: policy error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.server.logLevel, format: config.server.logFormat });
  if (config.server.workers === 0) await serve(config, { logger, migrate: true, listeningMessage: 'glint listening' });
  else if (cluster.isPrimary) await runPrimary(config, logger);
  else await serve(config, { logger, migrate: false, listeningMessage: 'worker listening' });
}

main().catch((err: unknown) => {
  process.stderr.write(`glint: failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
