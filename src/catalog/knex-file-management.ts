import type { Knex } from 'knex';
import type { FileRecord } from '../domain/file-management/model';
import { attributesFromRows, type FileAttributeName, type FileRecordRepository } from '../domain/file-management/repository';
import { inTransaction, toDate, type DbInteger } from './sql';

/** Namespace of the EdgeGallery file-management rows in image_attributes. */
const NAMESPACE = 'edgegallery';

interface AttributeRow {
  image_id: string;
  name: string;
  value: string;
  created_at: DbInteger;
}

/**
 * EdgeGallery file records on SQLite and MySQL/MariaDB: attributes of Glance images (kind
 * 'glance'), written in one transaction that first bumps the image row, so a write to an image
 * deleted meanwhile touches nothing.
 */
export class KnexFileRecordRepository implements FileRecordRepository {
  constructor(private readonly knex: Knex) {}

  async setAttributes(imageId: string, values: Partial<Record<FileAttributeName, string | null>>): Promise<boolean> {
    return inTransaction(this.knex, async (trx) => (await lockImage(trx, imageId)) && writeAttributes(trx, imageId, values));
  }

  async swapAttributes(imageId: string, name: FileAttributeName, expected: string | null, values: Partial<Record<FileAttributeName, string | null>>): Promise<boolean> {
    return inTransaction(this.knex, async (trx) => {
      // the image row's update comes first: it orders concurrent swaps of one image (MySQL row lock, SQLite write lock)
      if (!(await lockImage(trx, imageId))) return false;
      const rows = (await trx('image_attributes').where({ image_id: imageId, namespace: NAMESPACE, name }).select('value')) as Array<{ value: string }>;
      if ((rows[0]?.value ?? null) !== expected) return false;
      return writeAttributes(trx, imageId, values);
    });
  }

  async get(imageId: string): Promise<FileRecord | null> {
    const rows = (await this.rows().where('images.id', imageId)) as AttributeRow[];
    return recordsFrom(rows)[0] ?? null;
  }

  async list(): Promise<FileRecord[]> {
    const rows = (await this.rows().orderBy([{ column: 'images.created_at' }, { column: 'images.id' }])) as AttributeRow[];
    return recordsFrom(rows);
  }

  private rows(): Knex.QueryBuilder {
    return this.knex('image_attributes')
      .join('images', 'images.id', 'image_attributes.image_id')
      .where({ 'image_attributes.namespace': NAMESPACE, 'images.kind': 'glance', 'images.deleted': false, 'images.status': 'active' })
      .select('image_attributes.image_id', 'image_attributes.name', 'image_attributes.value', 'images.created_at');
  }
}

/** Bumps a live Glance image's row; false when there is none. */
async function lockImage(trx: Knex.Transaction, imageId: string): Promise<boolean> {
  const touched = await trx('images').where({ id: imageId, kind: 'glance', deleted: false }).update({ revision: trx.raw('revision + 1'), updated_at: Date.now() });
  return touched > 0;
}

/** Sets the attributes (null removes one); true. */
async function writeAttributes(trx: Knex.Transaction, imageId: string, values: Partial<Record<FileAttributeName, string | null>>): Promise<boolean> {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (value === null) {
      await trx('image_attributes').where({ image_id: imageId, namespace: NAMESPACE, name }).delete();
    } else {
      await trx('image_attributes').insert({ image_id: imageId, namespace: NAMESPACE, name, value }).onConflict(['image_id', 'namespace', 'name']).merge(['value']);
    }
  }
  return true;
}

/** Rows grouped by image, in the order the images first appear. */
function recordsFrom(rows: AttributeRow[]): FileRecord[] {
  const grouped = new Map<string, { createdAt: DbInteger; values: Map<string, string> }>();
  for (const row of rows) {
    let entry = grouped.get(row.image_id);
    if (!entry) grouped.set(row.image_id, (entry = { createdAt: row.created_at, values: new Map() }));
    entry.values.set(row.name, row.value);
  }
  const records: FileRecord[] = [];
  for (const [imageId, { createdAt, values }] of grouped) {
    const attributes = attributesFromRows(values);
    if (attributes) records.push({ imageId, uploadTime: toDate(createdAt), ...attributes });
  }
  return records;
}
