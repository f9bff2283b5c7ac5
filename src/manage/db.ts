import { KnexCatalog } from '../catalog/knex-catalog';
import type { GlintConfig } from '../config/types';
import { EXIT, parseOptions, readConfig, type Command, type CommandContext } from './cli';

/** The catalog alone (no stores): the db commands need nothing else. */
async function withCatalog<T>(context: CommandContext, work: (catalog: KnexCatalog, config: GlintConfig) => Promise<T>): Promise<T> {
  const config = readConfig(context.configFile);
  const catalog = await KnexCatalog.open(config.database);
  try {
    return await work(catalog, config);
  } finally {
    await catalog.close();
  }
}

/** The database URL without its password, for messages. */
function where(config: GlintConfig): string {
  return config.database.url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

export const dbCommands: Command[] = [
  {
    name: 'db sync',
    summary: 'apply the catalog migrations not applied yet (as the server does at start-up)',
    usage: 'db sync',
    async run(context) {
      parseOptions(context.args, {}, { min: 0, max: 0 });
      return withCatalog(context, async (catalog, config) => {
        const before = await catalog.migrationStatus();
        await catalog.migrate();
        const after = await catalog.migrationStatus();
        context.out.write(`${JSON.stringify({ database: where(config), applied: before.pending, version: after.applied.at(-1) ?? null })}\n`);
        return EXIT.ok;
      });
    },
  },
  {
    name: 'db version',
    summary: 'print the last applied catalog migration and how many are pending',
    usage: 'db version',
    async run(context) {
      parseOptions(context.args, {}, { min: 0, max: 0 });
      return withCatalog(context, async (catalog, config) => {
        const status = await catalog.migrationStatus();
        context.out.write(`${JSON.stringify({ database: where(config), version: status.applied.at(-1) ?? null, applied: status.applied.length, pending: status.pending })}\n`);
        return EXIT.ok;
      });
    },
  },
  {
    name: 'db check',
    summary: 'check the database answers and its schema is current (exit 3 when migrations are pending)',
    usage: 'db check',
    async run(context) {
      parseOptions(context.args, {}, { min: 0, max: 0 });
      return withCatalog(context, async (catalog, config) => {
        const { pending } = await catalog.migrationStatus();
        if (pending.length > 0) {
          context.out.write(`${where(config)}: ${pending.length} migration(s) pending: ${pending.join(', ')}; run glint-manage db sync\n`);
          return EXIT.problems;
        }
        context.out.write(`${where(config)}: reachable, schema current\n`);
        return EXIT.ok;
      });
    },
  },
];
