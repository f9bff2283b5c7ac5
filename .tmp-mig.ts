import { createKnex, parseDatabaseUrl } from './src/catalog/database';
import { migrationSource } from './migrations';
async function main() {
  for (const url of ['sqlite://', 'mysql://root@127.0.0.1/glint_scratch']) {
    const knex = createKnex(parseDatabaseUrl(url));
    knex.on('query', (q: {sql: string}) => { if (process.env.SHOWSQL) console.log(q.sql); });
    console.log(url, await knex.migrate.latest({ migrationSource }));
    console.log(await knex.migrate.rollback({ migrationSource }, true));
    console.log(await knex.migrate.latest({ migrationSource }));
    await knex.destroy();
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
