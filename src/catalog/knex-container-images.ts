import type { Knex } from 'knex';
import type { BigDataEntry, ContainerImageChanges, ContainerImageRecord, NewContainerImage } from '../domain/container-images/model';
import type { BigDataCommit, ContainerImageRepository } from '../domain/container-images/repository';
import { GlintError } from '../domain/errors';
import type { StoredObject } from '../domain/stored-object';
import { inTransaction, isUniqueViolation, toNumber, type DbInteger } from './sql';

/** images.kind of container images; the Glance repository reads only 'glance' rows. */
export const CONTAINER_KIND = 'container';
/** Namespace of their rows in image_names and image_attributes. */
const NAMESPACE = 'container';

/** Scalar fields kept in image_attributes (text values); size lives in images.size. */
type AttributeName = 'digest' | 'layer' | 'metadata' | 'created' | 'loaded';

interface BigDataRow {
  image_id: string;
  name: string;
  store_id: string;
  object_key: string;
  size: DbInteger;
  digest: string | null;
  position: DbInteger;
}

/**
 * Container images on SQLite and MySQL/MariaDB. Every mutation is one transaction that starts by
 * bumping the image row (`lockImage`): on MySQL that row lock orders writers of the same image, and
 * a change to an image that is gone touches nothing. Names move between images with an upsert on
 * image_names' primary key, so two writers giving one name to two images end with one owner.
 */
export class KnexContainerImageRepository implements ContainerImageRepository {
  constructor(private readonly knex: Knex) {}

  async create(image: NewContainerImage): Promise<void> {
    const now = Date.now();
    await inTransaction(this.knex, async (trx) => {
      try {
        // The primary key decides: a pre-check would race with another process creating the id.
        await trx('images').insert({
          id: image.id,
          kind: CONTAINER_KIND,
          name: null,
          status: 'active',
          visibility: 'private',
          size: image.size,
          created_at: Number(image.created / 1_000_000n),
          updated_at: now,
          deleted: false,
          revision: 1,
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new GlintError('IMAGE_ID_IN_USE', `ID is already in use: ${image.id}`, undefined, { cause: err });
        throw err;
      }
      await writeAttributes(trx, image.id, {
        digest: image.digest,
        layer: image.layer,
        metadata: image.metadata,
        created: image.created.toString(),
        loaded: image.loaded.toString(),
      });
      if (image.names.length === 0) return;
      try {
        await trx('image_names').insert(image.names.map((name) => ({ namespace: NAMESPACE, name, image_id: image.id, created_at: now })));
      } catch (err) {
        if (isUniqueViolation(err)) throw new GlintError('CONTAINER_IMAGE_NAME_IN_USE', 'Image name is already in use', undefined, { cause: err });
        throw err;
      }
    });
  }

  async get(id: string): Promise<ContainerImageRecord | null> {
    const rows = (await liveImages(this.knex).where('id', id).select('id', 'size')) as Array<{ id: string; size: DbInteger | null }>;
    if (rows.length === 0) return null;
    return (await loadRecords(this.knex, rows))[0] ?? null;
  }

  async list(): Promise<ContainerImageRecord[]> {
    // Through image_attributes' (namespace, name) index: images has no index on kind (see the migration).
    const ids = this.knex('image_attributes').select('image_id').where({ namespace: NAMESPACE, name: 'loaded' });
    const rows = (await liveImages(this.knex).whereIn('id', ids).select('id', 'size')) as Array<{ id: string; size: DbInteger | null }>;
    return byLoaded(await loadRecords(this.knex, rows));
  }

  async exists(id: string): Promise<boolean> {
    return (await liveImages(this.knex).where('id', id).first('id')) !== undefined;
  }

  async idsWithPrefix(prefix: string, limit: number): Promise<string[]> {
    // A range on the primary key; `g` sorts after every hex digit.
    const rows = (await liveImages(this.knex)
      .where('id', '>=', prefix)
      .where('id', '<', prefix + 'g')
      .orderBy('id')
      .limit(limit)
      .select('id')) as Array<{ id: string }>;
    return rows.map((row) => row.id);
  }

  async ownerOf(name: string): Promise<string | null> {
    const row = (await this.knex('image_names').where({ namespace: NAMESPACE, name }).first('image_id')) as { image_id: string } | undefined;
    return row?.image_id ?? null;
  }

  async idsByDigest(digest: string): Promise<string[]> {
    const [explicit, implicit] = (await Promise.all([
      this.knex('image_attributes').where({ namespace: NAMESPACE, name: 'digest', value: digest }).select('image_id'),
      this.knex('image_big_data').where({ name: 'manifest', digest }).select('image_id'),
    ])) as Array<Array<{ image_id: string }>>;
    const ids = [...new Set([...explicit, ...implicit].map((row) => row.image_id))];
    if (ids.length === 0) return [];
    const loaded = (await this.knex('image_attributes')
      .where({ namespace: NAMESPACE, name: 'loaded' })
      .whereIn('image_id', ids)
      .select('image_id', 'value')) as Array<{ image_id: string; value: string }>;
    return loaded
      .map((row) => ({ id: row.image_id, loaded: BigInt(row.value) }))
      .sort((a, b) => (a.loaded === b.loaded ? compare(a.id, b.id) : a.loaded < b.loaded ? -1 : 1))
      .map((row) => row.id);
  }

  addName(id: string, name: string): Promise<boolean> {
    return inTransaction(this.knex, async (trx) => {
      if (!(await lockImage(trx, id))) return false;
      await claimNames(trx, id, [name]);
      return true;
    });
  }

  setNames(id: string, names: readonly string[]): Promise<boolean> {
    return inTransaction(this.knex, async (trx) => {
      if (!(await lockImage(trx, id))) return false;
      const drop = trx('image_names').where({ namespace: NAMESPACE, image_id: id });
      if (names.length > 0) drop.whereNotIn('name', [...names]);
      await drop.delete();
      await claimNames(trx, id, names);
      return true;
    });
  }

  update(id: string, changes: ContainerImageChanges): Promise<boolean> {
    return inTransaction(this.knex, async (trx) => {
      if (!(await lockImage(trx, id, changes.size))) return false;
      const { size: _size, loaded, ...text } = changes;
      await writeAttributes(trx, id, { ...text, ...(loaded !== undefined ? { loaded: loaded.toString() } : {}) });
      return true;
    });
  }

  commitBigData(id: string, entry: BigDataEntry): Promise<BigDataCommit> {
    return inTransaction(this.knex, async (trx): Promise<BigDataCommit> => {
      if (!(await lockImage(trx, id))) return { status: 'gone' };
      const now = Date.now();
      const existing = (await trx('image_big_data').where({ image_id: id, name: entry.key }).first()) as BigDataRow | undefined;
      const values = { store_id: entry.storeId, object_key: entry.objectKey, size: entry.size, digest: entry.digest, updated_at: now };
      if (existing) {
        if (toNumber(existing.size) === entry.size && existing.digest === entry.digest) return { status: 'unchanged' };
        await trx('image_big_data').where({ image_id: id, name: entry.key }).update(values);
        return { status: 'written', replaced: { storeId: existing.store_id, key: existing.object_key } };
      }
      const [last] = (await trx('image_big_data').where('image_id', id).max({ position: 'position' })) as Array<{ position: DbInteger | null }>;
      const position = last?.position == null ? 0 : toNumber(last.position) + 1;
      await trx('image_big_data').insert({ image_id: id, name: entry.key, position, created_at: now, ...values });
      return { status: 'written', replaced: null };
    });
  }

  delete(id: string): Promise<StoredObject[] | null> {
    return inTransaction(this.knex, async (trx) => {
      if (!(await lockImage(trx, id))) return null;
      const objects = (await trx('image_big_data').where('image_id', id).orderBy('position').select('store_id', 'object_key')) as Array<{
        store_id: string;
        object_key: string;
      }>;
      for (const table of ['image_big_data', 'image_names', 'image_attributes', 'image_tags', 'image_properties', 'image_members', 'image_locations']) {
        await trx(table).where('image_id', id).delete();
      }
      await trx('images').where({ id, kind: CONTAINER_KIND }).delete();
      return objects.map((row) => ({ storeId: row.store_id, key: row.object_key }));
    });
  }
}

function liveImages(db: Knex | Knex.Transaction): Knex.QueryBuilder {
  return db('images').where({ kind: CONTAINER_KIND, deleted: false });
}

/** Bumps the image row (and sets its size); false when there is no such container image. */
async function lockImage(trx: Knex.Transaction, id: string, size?: number): Promise<boolean> {
  const changes: Record<string, unknown> = { revision: trx.raw('revision + 1'), updated_at: Date.now() };
  if (size !== undefined) changes.size = size;
  return (await liveImages(trx).where('id', id).update(changes)) > 0;
}

/** Gives each name to `id`, taking it from whoever owned it; in byte order, so writers lock alike. */
async function claimNames(trx: Knex.Transaction, id: string, names: readonly string[]): Promise<void> {
  const now = Date.now();
  for (const name of [...names].sort(compare)) {
    await trx('image_names')
      .insert({ namespace: NAMESPACE, name, image_id: id, created_at: now })
      .onConflict(['namespace', 'name'])
      .merge(['image_id', 'created_at']);
  }
}

/** Sets the given attributes; a null value removes the attribute. */
async function writeAttributes(trx: Knex.Transaction, id: string, values: Partial<Record<AttributeName, string | null>>): Promise<void> {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (value === null) {
      await trx('image_attributes').where({ image_id: id, namespace: NAMESPACE, name }).delete();
    } else {
      await trx('image_attributes')
        .insert({ image_id: id, namespace: NAMESPACE, name, value })
        .onConflict(['image_id', 'namespace', 'name'])
        .merge(['value']);
    }
  }
}

/** Records for the given image rows, with names, attributes and big data: three statements for the batch. */
async function loadRecords(db: Knex | Knex.Transaction, rows: Array<{ id: string; size: DbInteger | null }>): Promise<ContainerImageRecord[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((row) => row.id);
  const [names, attributes, bigData] = (await Promise.all([
    db('image_names').where('namespace', NAMESPACE).whereIn('image_id', ids).select('image_id', 'name'),
    db('image_attributes').where('namespace', NAMESPACE).whereIn('image_id', ids).select('image_id', 'name', 'value'),
    db('image_big_data').whereIn('image_id', ids).orderBy(['image_id', 'position']).select(),
  ])) as [Array<{ image_id: string; name: string }>, Array<{ image_id: string; name: string; value: string }>, BigDataRow[]];
  const records = new Map<string, ContainerImageRecord>();
  for (const row of rows) {
    records.set(row.id, {
      id: row.id,
      names: [],
      digest: null,
      layer: null,
      metadata: null,
      created: 0n,
      loaded: 0n,
      size: row.size == null ? 0 : toNumber(row.size),
      bigData: [],
    });
  }
  for (const row of names) records.get(row.image_id)?.names.push(row.name);
  for (const row of attributes) {
    const record = records.get(row.image_id);
    if (!record) continue;
    const name = row.name as AttributeName;
    if (name === 'created' || name === 'loaded') record[name] = BigInt(row.value);
    else if (name === 'digest' || name === 'layer' || name === 'metadata') record[name] = row.value;
  }
  for (const row of bigData) {
    records.get(row.image_id)?.bigData.push({
      key: row.name,
      storeId: row.store_id,
      objectKey: row.object_key,
      size: toNumber(row.size),
      digest: row.digest ?? '',
    });
  }
  for (const record of records.values()) record.names.sort(compare);
  return [...records.values()];
}

function byLoaded(records: ContainerImageRecord[]): ContainerImageRecord[] {
  return records.sort((a, b) => (a.loaded === b.loaded ? compare(a.id, b.id) : a.loaded < b.loaded ? -1 : 1));
}

function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
