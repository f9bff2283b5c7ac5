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
        context.out.write(`${JSON.stringify(await app.reconciler.runOnce())}\n`);
        return EXIT.ok;
      } finally {
        await app.close();
      }
    },
  },
];
