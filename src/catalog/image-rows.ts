import type { Knex } from 'knex';
import type { Image, ImageLocation, ImageStatus, Visibility } from '../domain/image';
import type { ImageAttributeChanges } from './repository';
import {
  toBoolean,
  toDate,
  toNullableDate,
  toNullableNumber,
  toNumber,
  type DbBoolean,
  type DbInteger,
} from './sql';

/** Rows of the image tables and their translation to and from the domain model. */

export interface ImageRow {
  id: string;
  name: string | null;
  status: string;
  visibility: string;
  protected: DbBoolean;
  os_hidden: DbBoolean;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  owner: string | null;
  size: DbInteger | null;
  virtual_size: DbInteger | null;
  min_ram: DbInteger;
  min_disk: DbInteger;
  container_format: string | null;
  disk_format: string | null;
  created_at: DbInteger;
  updated_at: DbInteger;
  deleted_at: DbInteger | null;
  deleted: DbBoolean;
  revision: DbInteger;
}

interface PropertyRow {
  image_id: string;
  name: string;
  value: string;
}

interface TagRow {
  image_id: string;
  value: string;
}

interface LocationRow {
  image_id: string;
  store_id: string;
  object_key: string;
  metadata: string;
  created_at: DbInteger;
}

/** Status of a location row that still holds the image's data. */
export const LIVE_LOCATION = 'active';

/** Column values for the base attributes present in `changes`. */
export function attributeColumns(changes: ImageAttributeChanges): Partial<Record<keyof ImageRow, string | number | null>> {
  const columns: Partial<Record<keyof ImageRow, string | number | null>> = {};
  if (changes.name !== undefined) columns.name = changes.name;
  if (changes.status !== undefined) columns.status = changes.status;
  if (changes.visibility !== undefined) columns.visibility = changes.visibility;
  if (changes.protected !== undefined) columns.protected = changes.protected ? 1 : 0;
  if (changes.osHidden !== undefined) columns.os_hidden = changes.osHidden ? 1 : 0;
  if (changes.checksum !== undefined) columns.checksum = changes.checksum;
  if (changes.osHashAlgo !== undefined) columns.os_hash_algo = changes.osHashAlgo;
  if (changes.osHashValue !== undefined) columns.os_hash_value = changes.osHashValue;
  if (changes.owner !== undefined) columns.owner = changes.owner;
  if (changes.size !== undefined) columns.size = changes.size;
  if (changes.virtualSize !== undefined) columns.virtual_size = changes.virtualSize;
  if (changes.minRam !== undefined) columns.min_ram = changes.minRam;
  if (changes.minDisk !== undefined) columns.min_disk = changes.minDisk;
  if (changes.containerFormat !== undefined) columns.container_format = changes.containerFormat;
  if (changes.diskFormat !== undefined) columns.disk_format = changes.diskFormat;
  return columns;
}

function toImage(row: ImageRow, properties: Record<string, string>, tags: string[], locations: ImageLocation[]): Image {
  return {
    id: row.id,
    name: row.name,
    status: row.status as ImageStatus,
    visibility: row.visibility as Visibility,
    protected: toBoolean(row.protected),
    osHidden: toBoolean(row.os_hidden),
    checksum: row.checksum,
    osHashAlgo: row.os_hash_algo,
    osHashValue: row.os_hash_value,
    owner: row.owner,
    size: toNullableNumber(row.size),
    virtualSize: toNullableNumber(row.virtual_size),
    minRam: toNumber(row.min_ram),
    minDisk: toNumber(row.min_disk),
    containerFormat: row.container_format,
    diskFormat: row.disk_format,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    deletedAt: toNullableDate(row.deleted_at),
    revision: toNumber(row.revision),
    properties,
    tags,
    locations,
  };
}

function groupBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const group = groups.get(key(row));
    if (group) group.push(row);
    else groups.set(key(row), [row]);
  }
  return groups;
}

/**
 * Completes image rows with their properties, tags and live locations: one query per child table
 * for the whole batch, whatever its size. Keeps the order of `rows`.
 */
export async function assembleImages(db: Knex | Knex.Transaction, rows: readonly ImageRow[]): Promise<Image[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((row) => row.id);
  const [propertyRows, tagRows, locationRows] = await Promise.all([
    db<PropertyRow>('image_properties').select('image_id', 'name', 'value').whereIn('image_id', ids).orderBy('name'),
    db<TagRow>('image_tags').select('image_id', 'value').whereIn('image_id', ids).orderBy('value'),
    db<LocationRow>('image_locations')
      .select('image_id', 'store_id', 'object_key', 'metadata', 'created_at')
      .whereIn('image_id', ids)
      .where('status', LIVE_LOCATION)
      .orderBy('id'),
  ]);
  const propertiesByImage = groupBy(propertyRows, (row) => row.image_id);
  const tagsByImage = groupBy(tagRows, (row) => row.image_id);
  const locationsByImage = groupBy(locationRows, (row) => row.image_id);
  return rows.map((row) =>
    toImage(
      row,
      Object.fromEntries((propertiesByImage.get(row.id) ?? []).map((property) => [property.name, property.value])),
      (tagsByImage.get(row.id) ?? []).map((tag) => tag.value),
      (locationsByImage.get(row.id) ?? []).map((location) => ({
        storeId: location.store_id,
        key: location.object_key,
        metadata: JSON.parse(location.metadata) as Record<string, unknown>,
        createdAt: toDate(location.created_at),
      })),
    ),
  );
}
