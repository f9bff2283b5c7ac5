import { randomUUID } from 'node:crypto';
import { KnexCatalog } from '../src/catalog/knex-catalog';
import { parseDatabaseUrl } from '../src/config/database-url';

/**
 * Fills a fresh SQLite catalog with `count` images before glint starts, using glint's own catalog
 * code as a library:
 *
 * 1. `KnexCatalog.open` + `migrate()` create the schema exactly as glint would;
 * 2. one template image goes through the repository API (`images.create` with properties and
 *    tags, then `images.update` to active with a size, checksums and a location), so its rows
 *    in every table are whatever the current code writes;
 * 3. the template's rows are cloned in batches, inside one transaction per batch, with a new id,
 *    name, owner, visibility and created/updated times per image, into `images` and into every
 *    table that has an `image_id` column (properties, tags, locations, …).
 *
 * Step 3 goes around the repository on purpose: 100,000 `create` calls cost minutes, the batched
 * clone a few seconds, and cloning (rather than hand-written rows) keeps it correct when the
 * schema gains columns.
 */
export async function seedCatalog(databaseFile: string, count: number): Promise<{ seconds: number; sampleId: string }> {
  const started = Date.now();
  const catalog = await KnexCatalog.open(parseDatabaseUrl(`sqlite:///${databaseFile}`));
  try {
    await catalog.migrate();
    const templateId = randomUUID();
    await catalog.images.create({
      id: templateId,
      name: 'bench-template',
      status: 'queued',
      visibility: 'public',
      protected: false,
      osHidden: false,
      checksum: null,
      osHashAlgo: null,
      osHashValue: null,
      owner: 'bench-project-0',
      size: null,
      virtualSize: null,
      minRam: 512,
      minDisk: 1,
      containerFormat: 'bare',
      diskFormat: 'qcow2',
      properties: { os_distro: 'ubuntu', os_version: '22.04', architecture: 'x86_64', hw_disk_bus: 'virtio' },
      tags: ['bench', 'seeded'],
    });
    const active = await catalog.images.update(templateId, {
      attributes: {
        status: 'active',
        size: 1_073_741_824,
        virtualSize: 2_147_483_648,
        checksum: 'cd573cfaace07e7949bc0c46028904ff',
        osHashAlgo: 'sha512',
        osHashValue: 'a'.repeat(128),
      },
      addLocations: [{ storeId: 'file', key: templateId, metadata: { store: 'file' } }],
    });
    if (!active) throw new Error('template image vanished');

    const knex = catalog.knex;
    // setup data, not the measured system: no fsync while seeding (one pooled connection, so it sticks)
    await knex.raw('PRAGMA synchronous = OFF');
    const tables = (await knex('sqlite_master').select('name').where('type', 'table')) as Array<{ name: string }>;
    const children: Array<{ table: string; rows: Array<Record<string, unknown>> }> = [];
    for (const { name } of tables) {
      if (name === 'images' || name.startsWith('sqlite_') || name.startsWith('knex_')) continue;
      const columns = (await knex.raw(`PRAGMA table_info(${JSON.stringify(name)})`)) as Array<{ name: string; type: string; pk: number }>;
      if (!columns.some((c) => c.name === 'image_id')) continue;
      // an INTEGER PRIMARY KEY is the rowid: leave it to SQLite
      const rowid = columns.find((c) => c.pk === 1 && c.type.toUpperCase() === 'INTEGER' && columns.filter((x) => x.pk > 0).length === 1);
      const rows = ((await knex(name).select('*').where('image_id', templateId)) as Array<Record<string, unknown>>).map((row) => {
        const copy = { ...row };
        if (rowid) delete copy[rowid.name];
        return copy;
      });
      if (rows.length > 0) children.push({ table: name, rows });
    }
    const [template] = (await knex('images').select('*').where('id', templateId)) as Array<Record<string, unknown>>;
    const baseTime = Date.now() - count * 1000;
    const visibilities = ['public', 'public', 'public', 'public', 'public', 'public', 'public', 'private', 'private', 'shared'];
    let sampleId = templateId;
    // The clone runs on knex's own better-sqlite3 connection with prepared statements: through the
    // query builder the same inserts cost ~5x more CPU.
    const db = (await (knex.client as KnexClient).acquireConnection()) as SqliteDatabase;
    try {
      const insertImage = prepareInsert(db, 'images', Object.keys(template));
      const insertChild = children.map((c) => ({ rows: c.rows, insert: prepareInsert(db, c.table, Object.keys(c.rows[0])) }));
      const BATCH = 5_000;
      for (let from = 1; from < count; from += BATCH) {
        const to = Math.min(count, from + BATCH);
        db.transaction(() => {
          for (let i = from; i < to; i++) {
            const id = randomUUID();
            const time = baseTime + i * 1000;
            // images.children names the location's object key, which is the image id here
            const children = typeof template.children === 'string' ? template.children.replaceAll(templateId, id) : template.children;
            insertImage({ ...template, id, name: `bench-${i}`, owner: `bench-project-${i % 50}`, visibility: visibilities[i % visibilities.length], created_at: time, updated_at: time, children });
            for (const child of insertChild) {
              for (const row of child.rows) child.insert({ ...row, image_id: id, ...('object_key' in row ? { object_key: id } : {}) });
            }
            if (i === Math.floor(count / 2)) sampleId = id;
          }
        })();
      }
    } finally {
      await (knex.client as KnexClient).releaseConnection(db);
    }
    return { seconds: (Date.now() - started) / 1000, sampleId };
  } finally {
    await catalog.close();
  }
}

/** The parts of knex's client and better-sqlite3 used above (neither is in knex's public types). */
interface KnexClient {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<void>;
}

interface SqliteDatabase {
  prepare(sql: string): { run(params: Record<string, unknown>): unknown };
  transaction(fn: () => void): () => void;
}

function prepareInsert(db: SqliteDatabase, table: string, columns: string[]): (row: Record<string, unknown>) => void {
  const statement = db.prepare(`INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`);
  return (row) => {
    const params: Record<string, unknown> = {};
    for (const c of columns) params[c] = typeof row[c] === 'boolean' ? (row[c] ? 1 : 0) : row[c];
    statement.run(params);
  };
}
