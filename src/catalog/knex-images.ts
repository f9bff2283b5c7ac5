import type { Knex } from 'knex';
import { GlintError } from '../domain/errors';
import { HIDDEN_STATUSES, type Image } from '../domain/image';
import { attributeColumns, childrenDocument, imageByIdStatement, LIVE_LOCATION, loadImages, writeChildrenDocument, type ImageRow } from './image-rows';
import { imageListStatement } from './image-list-query';
import type { DeletedImage, ImageChanges, ImageListQuery, ImageRepository, NewImage, StuckWrite, UpdateCondition } from '../domain/repositories';
import { inTransaction, isUniqueViolation, toNumber, type DbInteger } from './sql';
import { createStatementRunner, type StatementRunner } from './statements';

/** images.kind of Glance's rows; this repository never reads or changes any other kind. */
const GLANCE_KIND = 'glance';

/** markDeleted gives up after this many rounds lost to concurrent edits of the same image. */
const DELETE_ATTEMPTS = 10;

/**
 * Writes go through knex's query builder inside knex transactions; reads (get, list and the image
 * a write returns) go through prepared statements (see statements.ts).
 */
export class KnexImageRepository implements ImageRepository {
  private readonly runner: StatementRunner;

  constructor(private readonly knex: Knex) {
    this.runner = createStatementRunner(knex);
  }

  async create(image: NewImage): Promise<Image> {
    const createdAt = (image.createdAt ?? new Date()).getTime();
    const row: ImageRow = {
      id: image.id,
      name: image.name,
      status: image.status,
      visibility: image.visibility,
      protected: image.protected ? 1 : 0,
      os_hidden: image.osHidden ? 1 : 0,
      checksum: image.checksum,
      os_hash_algo: image.osHashAlgo,
      os_hash_value: image.osHashValue,
      owner: image.owner,
      size: image.size,
      virtual_size: image.virtualSize,
      min_ram: image.minRam,
      min_disk: image.minDisk,
      container_format: image.containerFormat,
      disk_format: image.diskFormat,
      created_at: createdAt,
      updated_at: createdAt,
      deleted_at: null,
      deleted: 0,
      revision: 1,
      children: null,
    };
    try {
      return await inTransaction(this.knex, async (trx) => {
        // The primary key decides: a pre-check would race with another node creating the same id.
        await trx('images').insert(row);
        await setProperties(trx, image.id, image.properties);
        await insertTags(trx, image.id, image.tags);
        await writeChildrenDocument(this.runner, trx, image.id);
        return requireImage(await this.load(trx, image.id, true), image.id);
      });
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new GlintError('IMAGE_ID_IN_USE', `An image with identifier ${image.id} already exists.`, undefined, { cause: err });
      }
      throw err;
    }
  }

  get(id: string, options?: { includeDeleted?: boolean }): Promise<Image | null> {
    return this.load(this.knex, id, options?.includeDeleted ?? false);
  }

  async list(query: ImageListQuery): Promise<Image[]> {
    if (query.limit <= 0) return [];
    return loadImages(this.runner, this.knex, imageListStatement(query));
  }

  update(id: string, changes: ImageChanges, condition?: UpdateCondition): Promise<Image | null> {
    return inTransaction(this.knex, async (trx) => {
      const now = Date.now();
      // The image row goes first: its row lock orders concurrent writers of this image, and when
      // the condition fails nothing else is touched.
      const updated = await whereCondition(trx('images').where({ id, deleted: false, kind: GLANCE_KIND }), condition).update({
        ...attributeColumns(changes.attributes ?? {}),
        ...writeLeaseColumns(changes),
        updated_at: now,
        revision: trx.raw('revision + 1'),
      });
      if (updated === 0) return null;

      if (changes.removeProperties && changes.removeProperties.length > 0) {
        await trx('image_properties').where('image_id', id).whereIn('name', changes.removeProperties).delete();
      }
      if (changes.setProperties) await setProperties(trx, id, changes.setProperties);
      if (changes.tags) {
        await trx('image_tags').where('image_id', id).delete();
        await insertTags(trx, id, changes.tags);
      }
      if (changes.replaceLocations) {
        await trx('image_locations').where({ image_id: id, status: LIVE_LOCATION }).delete();
        if (changes.replaceLocations.length > 0) await trx('image_locations').insert(changes.replaceLocations.map((location) => locationRow(id, location, now)));
      }
      if (changes.removeLocationsInStores && changes.removeLocationsInStores.length > 0) {
        await trx('image_locations')
          .where({ image_id: id, status: LIVE_LOCATION })
          .whereIn('store_id', changes.removeLocationsInStores)
          .delete();
      }
      if (changes.addLocations && changes.addLocations.length > 0) {
        await trx('image_locations').insert(changes.addLocations.map((location) => locationRow(id, location, now)));
      }
      const childrenChanged =
        (changes.removeProperties?.length ?? 0) > 0 ||
        changes.setProperties !== undefined ||
        changes.tags !== undefined ||
        changes.replaceLocations !== undefined ||
        (changes.removeLocationsInStores?.length ?? 0) > 0 ||
        (changes.addLocations?.length ?? 0) > 0;
      if (childrenChanged) await writeChildrenDocument(this.runner, trx, id);
      return requireImage(await this.load(trx, id, false), id);
    });
  }

  async markDeleted(id: string, condition?: UpdateCondition): Promise<DeletedImage | null> {
    for (let attempt = 1; attempt <= DELETE_ATTEMPTS; attempt++) {
      const before = await this.get(id);
      if (!before || !conditionHolds(before, condition)) return null;
      // Pinning the revision makes `before` exactly the state that gets deleted: every change to
      // the image, its properties, tags or locations bumps the revision.
      const deleted = await inTransaction(this.knex, async (trx) => {
        const now = Date.now();
        const updated = await whereCondition(trx('images').where({ id, deleted: false, kind: GLANCE_KIND, revision: before.revision }), condition).update({
          status: 'deleted',
          deleted: true,
          deleted_at: now,
          updated_at: now,
          revision: trx.raw('revision + 1'),
          children: childrenDocument(undefined),
        });
        if (updated === 0) return null;
        const bigData = (await trx('image_big_data').where('image_id', id).orderBy('position').select('store_id', 'object_key')) as Array<{ store_id: string; object_key: string }>;
        for (const table of ['image_tags', 'image_properties', 'image_members', 'image_locations', 'image_names', 'image_attributes', 'image_big_data']) {
          await trx(table).where('image_id', id).delete();
        }
        return bigData.map((row) => ({ storeId: row.store_id, key: row.object_key }));
      });
      if (deleted) return { image: before, objects: [...before.locations.map(({ storeId, key }) => ({ storeId, key })), ...deleted] };
    }
    throw new GlintError('IMAGE_UPDATE_CONFLICT', `Image ${id} kept changing while it was being deleted; try again.`);
  }

  private async load(db: Knex | Knex.Transaction, id: string, includeDeleted: boolean): Promise<Image | null> {
    const [image] = await loadImages(this.runner, db, imageByIdStatement(id, includeDeleted));
    return image ?? null;
  }

  async storageUsage(owner: string, excludeImageId?: string): Promise<number> {
    const query = this.knex('images')
      .join('image_locations', 'image_locations.image_id', 'images.id')
      .where('images.owner', owner)
      .where('images.deleted', false)
      .whereNotIn('images.status', HIDDEN_STATUSES)
      .whereNotNull('images.size')
      .where('image_locations.status', LIVE_LOCATION)
      .sum({ total: 'images.size' });
    if (excludeImageId !== undefined) query.whereNot('images.id', excludeImageId);
    const [result] = (await query) as Array<{ total: DbInteger | null }>;
    return result?.total == null ? 0 : toNumber(result.total);
  }

  async renewWriteLease(id: string, holder: string, expiresAt: Date): Promise<boolean> {
    const updated = await this.knex('images')
      .where({ id, deleted: false, write_lease_holder: holder })
      .update({ write_lease_expires_at: expiresAt.getTime() });
    return updated > 0;
  }

  async findStuckWrites(now: Date, limit: number): Promise<StuckWrite[]> {
    type Row = { id: string; status: string; revision: DbInteger; write_lease_holder: string | null; import_task?: string | null };
    const expired = (await this.knex('images')
      .select('id', 'status', 'revision', 'write_lease_holder')
      .whereIn('status', ['saving', 'uploading'])
      .whereNotNull('write_lease_expires_at')
      .where('write_lease_expires_at', '<', now.getTime())
      .where('deleted', false)
      .limit(limit)) as Row[];
    const importing = (await this.knex('images')
      .leftJoin('image_properties', (join) => {
        join.on('image_properties.image_id', '=', 'images.id').andOnVal('image_properties.name', '=', 'os_glance_import_task');
      })
      .select('images.id', 'images.status', 'images.revision', 'images.write_lease_holder', 'image_properties.value as import_task')
      .where('images.status', 'importing')
      .where('images.deleted', false)
      .limit(limit)) as Row[];
    return [...expired, ...importing].map((row) => ({
      id: row.id,
      status: row.status as StuckWrite['status'],
      revision: toNumber(row.revision),
      writeLeaseHolder: row.write_lease_holder,
      importTask: row.import_task ?? null,
    }));
  }

  async referencedKeys(storeId: string, keys: readonly string[]): Promise<Set<string>> {
    const referenced = new Set<string>();
    if (keys.length === 0) return referenced;
    const queries = [
      this.knex('image_locations').distinct('object_key').where('store_id', storeId).whereIn('object_key', [...keys]),
      this.knex('image_big_data').distinct('object_key').where('store_id', storeId).whereIn('object_key', [...keys]),
      this.knex('upload_chunks')
        .join('chunked_uploads', 'chunked_uploads.id', 'upload_chunks.upload_id')
        .distinct('upload_chunks.object_key')
        .where('chunked_uploads.store_id', storeId)
        .whereIn('upload_chunks.object_key', [...keys]),
    ];
    for (const query of queries) {
      for (const row of (await query) as Array<{ object_key: string }>) referenced.add(row.object_key);
    }
    return referenced;
  }
}

function locationRow(imageId: string, location: { storeId: string; key: string; metadata?: Record<string, unknown> }, now: number): Record<string, unknown> {
  return {
    image_id: imageId,
    store_id: location.storeId,
    object_key: location.key,
    metadata: JSON.stringify(location.metadata ?? {}),
    status: LIVE_LOCATION,
    created_at: now,
  };
}

function writeLeaseColumns(changes: ImageChanges): Record<string, string | number | null> {
  if (changes.writeLease === undefined) return {};
  const lease = changes.writeLease;
  return { write_lease_holder: lease?.holder ?? null, write_lease_expires_at: lease?.expiresAt.getTime() ?? null };
}

function whereCondition(query: Knex.QueryBuilder, condition: UpdateCondition | undefined): Knex.QueryBuilder {
  if (condition?.status !== undefined) {
    query.whereIn('status', typeof condition.status === 'string' ? [condition.status] : [...condition.status]);
  }
  if (condition?.revision !== undefined) query.where('revision', condition.revision);
  if (condition?.writeLeaseHolder === null) query.whereNull('write_lease_holder');
  else if (condition?.writeLeaseHolder !== undefined) query.where('write_lease_holder', condition.writeLeaseHolder);
  if (condition?.writeLeaseExpiredAt !== undefined) query.whereNotNull('write_lease_expires_at').where('write_lease_expires_at', '<', condition.writeLeaseExpiredAt.getTime());
  return query;
}

function conditionHolds(image: Image, condition: UpdateCondition | undefined): boolean {
  if (condition?.status !== undefined) {
    const statuses: readonly string[] = typeof condition.status === 'string' ? [condition.status] : condition.status;
    if (!statuses.includes(image.status)) return false;
  }
  if (condition?.writeLeaseHolder !== undefined || condition?.writeLeaseExpiredAt !== undefined) {
    throw new Error('markDeleted takes no write lease condition');
  }
  return condition?.revision === undefined || condition.revision === image.revision;
}

function requireImage(image: Image | null, id: string): Image {
  if (!image) throw new Error(`Image ${id} vanished inside its own transaction`);
  return image;
}

async function setProperties(trx: Knex.Transaction, imageId: string, properties: Record<string, string>): Promise<void> {
  const rows = Object.entries(properties).map(([name, value]) => ({ image_id: imageId, name, value }));
  if (rows.length === 0) return;
  await trx('image_properties').insert(rows).onConflict(['image_id', 'name']).merge(['value']);
}

async function insertTags(trx: Knex.Transaction, imageId: string, tags: readonly string[]): Promise<void> {
  const unique = [...new Set(tags)];
  if (unique.length === 0) return;
  await trx('image_tags').insert(unique.map((value) => ({ image_id: imageId, value })));
}
