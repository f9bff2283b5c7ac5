import { Reconciler } from '../domain/reconciler';
import { createLogger } from '../lib/logger';
import { EXIT, openApp, parseOptions, readConfig, type Command } from './cli';

export const reconcileCommands: Command[] = [
  {
    name: 'reconcile',
    summary: 'one pass of the reconciler: stuck writes and imports back to queued, orphans and temporaries removed',
    usage: 'reconcile\n\nWhat every node runs each [glint] reconcile_interval; prints what it did as one JSON line.',
    async run(context) {
      parseOptions(context.args, {}, { min: 0, max: 0 });
      const config = readConfig(context.configFile);
      const app = await openApp(config);
      try {
        const reconciler = new Reconciler({
          catalog: app.catalog,
          stores: app.stores,
          logger: createLogger({ level: 'warn', format: config.server.logFormat }),
          intervalMs: config.recovery.reconcileIntervalMs,
          orphanGraceMs: config.recovery.orphanGraceMs,
        });
        context.out.write(`${JSON.stringify(await reconciler.runOnce())}\n`);
        return EXIT.ok;
      } finally {
        await app.close();
      }
    },
  },
];
