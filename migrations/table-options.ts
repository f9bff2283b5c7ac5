import type { Knex } from 'knex';

/**
 * Options every migration applies to the tables it creates. On MySQL/MariaDB: InnoDB, utf8mb4, and a
 * binary NO PAD collation, so that comparisons, uniqueness and sort order match SQLite's BINARY
 * collation (case-sensitive, code-point order, trailing spaces significant). Plain `utf8mb4_bin`
 * is PAD SPACE and would make the tags "a" and "a " collide; it is used only when the server has
 * neither NO PAD binary collation.
 *
 * Index budget: InnoDB keys are at most 3072 bytes and utf8mb4 reserves 4 bytes per character, so
 * a varchar(255) costs 1020 bytes and varchar(64) 256; every key in these migrations stays below.
 */
export type TableOptions = (table: Knex.CreateTableBuilder) => void;

export function isMysql(knex: Knex): boolean {
  return (knex.client as { dialect?: string }).dialect === 'mysql';
}

export async function tableOptions(knex: Knex): Promise<TableOptions> {
  if (!isMysql(knex)) return () => {};
  const collation = await binaryCollation(knex);
  return (table) => {
    table.engine('InnoDB');
    table.charset('utf8mb4');
    table.collate(collation);
  };
}

async function binaryCollation(knex: Knex): Promise<string> {
  const preferred = ['utf8mb4_nopad_bin', 'utf8mb4_0900_bin'];
  const rows: Array<{ name: string }> = await knex('information_schema.COLLATIONS')
    .select({ name: 'COLLATION_NAME' })
    .whereIn('COLLATION_NAME', preferred);
  const available = new Set(rows.map((row) => row.name));
  return preferred.find((name) => available.has(name)) ?? 'utf8mb4_bin';
}
