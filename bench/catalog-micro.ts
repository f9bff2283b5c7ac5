import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDatabaseUrl } from '../src/config/database-url';
import { KnexCatalog } from '../src/catalog/knex-catalog';
import { defaultListQuery } from '../test/support/list-query';
import { seedCatalog } from './seed';

/**
 * Catalog read paths in-process, without HTTP: seeds a temp SQLite file with the same 100,000
 * images as the list phase of `npm run bench` (bench/seed.ts), then times sequential
 * `images.get(id)` on random ids and `images.list` pages as an unauthenticated (admin) GET
 * /v2/images?limit=20 asks for them: everything scope, os_hidden = false, created_at desc, id desc;
 * then the next page, and a page after a marker in the middle of the catalog.
 *
 *   npx tsx bench/catalog-micro.ts [--images=100000] [--gets=20000] [--lists=2000] [--rounds=3]
 *
 * Each figure is the best round's mean (this machine is shared; the best round is the least
 * disturbed one).
 */

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.slice(name.length + 3)) : fallback;
}

const IMAGES = option('images', 100_000);
const GETS = option('gets', 20_000);
const LISTS = option('lists', 2_000);
const ROUNDS = option('rounds', 3);

async function time(count: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < count; i++) await op(i);
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1000 / count);
  }
  return best;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'glint-catalog-micro-'));
  try {
    const file = join(dir, 'glint.db');
    const seeded = await seedCatalog(file, IMAGES);
    console.log(`seeded ${IMAGES} images in ${seeded.seconds.toFixed(1)} s`);

    const catalog = await KnexCatalog.open(parseDatabaseUrl(`sqlite:///${file}`));
    try {
      await catalog.migrate();
      const rows = (await catalog.knex('images').select('id')) as Array<{ id: string }>;
      const ids = Array.from({ length: GETS }, () => rows[Math.floor(Math.random() * rows.length)].id);
      const firstPage = await catalog.images.list(defaultListQuery());
      if (firstPage.length !== 20 || firstPage.some((image) => image.locations.length !== 1 || image.tags.length !== 2)) {
        throw new Error('unexpected first page');
      }
      const marker = firstPage[firstPage.length - 1];
      // a page deep into the catalog: the marker is the image in the middle of the default order
      const [middle] = (await catalog
        .knex('images')
        .select('id')
        .orderBy([
          { column: 'createdAt', order: 'desc' },
          { column: 'id', order: 'desc' },
        ])
        .offset(Math.floor(rows.length / 2))
        .limit(1)) as Array<{ id: string }>;
      const deepMarker = await catalog.images.get(middle.id);
      if (!deepMarker) throw new Error('no middle image');

      // warm-up: JIT and SQLite page cache
      for (let i = 0; i < 2_000; i++) await catalog.images.get(ids[i]);
      for (let i = 0; i < 200; i++) await catalog.images.list(defaultListQuery());

      const get = await time(GETS, (i) => catalog.images.get(ids[i]));
      const list = await time(LISTS, () => catalog.images.list(defaultListQuery()));
      const next = await time(LISTS, () => catalog.images.list(defaultListQuery({ marker })));
      const deep = await time(Math.ceil(LISTS / 10), () => catalog.images.list(defaultListQuery({ marker: deepMarker })));
      console.log(`images.get(id)                        ${get.toFixed(1)} µs/op (${GETS} ops, best of ${ROUNDS})`);
      console.log(`images.list(limit 20)                 ${list.toFixed(1)} µs/op (${LISTS} ops, best of ${ROUNDS})`);
      console.log(`images.list(limit 20, marker)         ${next.toFixed(1)} µs/op (${LISTS} ops, best of ${ROUNDS})`);
      console.log(`images.list(limit 20, middle marker)  ${deep.toFixed(1)} µs/op (${Math.ceil(LISTS / 10)} ops, best of ${ROUNDS})`);
    } finally {
      await catalog.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
