import type { Knex } from 'knex';
import type { Image, ImageLocation, ImageStatus, Visibility } from '../domain/image';
import type { ImageAttributeChanges } from '../domain/repositories';
import { placeholders, type Row, type SqlStatement, type StatementRunner } from './statements';
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
  /** See childrenDocument. */
  children: string | null;
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

/** `images`.`<name>`, quoted as both databases read it. */
export function imagesColumn(name: string): string {
  return '`images`.`' + name + '`';
}

/**
 * The `images` columns every image read selects, in this order; `imageFromRow` reads them by
 * position (rows come back as arrays: materialising 20 named properties per row costs more than
 * the query itself on SQLite).
 */
export const IMAGE_SELECT = [
  'id',
  'name',
  'status',
  'visibility',
  'protected',
  'os_hidden',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'owner',
  'size',
  'virtual_size',
  'min_ram',
  'min_disk',
  'container_format',
  'disk_format',
  'created_at',
  'updated_at',
  'deleted_at',
  'revision',
]
  .map(imagesColumn)
  .join(', ');

interface Children {
  properties: Record<string, string>;
  tags: string[];
  locations: ImageLocation[];
}

/** Position of `images`.`children` in the rows loadImages reads: right after IMAGE_SELECT. */
const CHILDREN_COLUMN = 20;
const IMAGE_SELECT_WITH_CHILDREN = IMAGE_SELECT + ', ' + imagesColumn('children');

/**
 * The images.children document (see its migration): {"p": {name: value}, "t": [tag],
 * "l": [[store_id, object_key, metadata, created_at ms]]}, properties by name, tags by value,
 * locations in the order they were added — the order loadChildren reads them in.
 */
interface ChildrenDocument {
  p: Record<string, string>;
  t: string[];
  l: Array<[string, string, Record<string, unknown>, number]>;
}

export function childrenDocument(children: Children | undefined): string {
  const document: ChildrenDocument = {
    p: children?.properties ?? {},
    t: children?.tags ?? [],
    l: (children?.locations ?? []).map((location) => [location.storeId, location.key, location.metadata, location.createdAt.getTime()]),
  };
  return JSON.stringify(document);
}

function childrenFromDocument(text: string): Children {
  // JSON.parse defines keys as own properties, so a property called "__proto__" stays one.
  const document = JSON.parse(text) as ChildrenDocument;
  return {
    properties: document.p,
    tags: document.t,
    locations: document.l.map(([storeId, key, metadata, createdAt]) => ({ storeId, key, metadata, createdAt: new Date(createdAt) })),
  };
}

function imageFromRow(row: Row, children: Children | undefined): Image {
  return {
    id: row[0] as string,
    name: row[1] as string | null,
    status: row[2] as ImageStatus,
    visibility: row[3] as Visibility,
    protected: toBoolean(row[4] as DbBoolean),
    osHidden: toBoolean(row[5] as DbBoolean),
    checksum: row[6] as string | null,
    osHashAlgo: row[7] as string | null,
    osHashValue: row[8] as string | null,
    owner: row[9] as string | null,
    size: toNullableNumber(row[10] as DbInteger | null),
    virtualSize: toNullableNumber(row[11] as DbInteger | null),
    minRam: toNumber(row[12] as DbInteger),
    minDisk: toNumber(row[13] as DbInteger),
    containerFormat: row[14] as string | null,
    diskFormat: row[15] as string | null,
    createdAt: toDate(row[16] as DbInteger),
    updatedAt: toDate(row[17] as DbInteger),
    deletedAt: toNullableDate(row[18] as DbInteger | null),
    revision: toNumber(row[19] as DbInteger),
    properties: children?.properties ?? {},
    tags: children?.tags ?? [],
    locations: children?.locations ?? [],
  };
}

/** A SELECT of images whose column list is left to loadImages. */
export type ImageSelect = (columns: string) => SqlStatement;

/** Glance's rows only: container images (images.kind 'container') are not Glance images. */
const BY_ID = " FROM `images` WHERE `images`.`id` = ? AND `images`.`kind` = 'glance'";
const LIVE_BY_ID = BY_ID + ' AND `images`.`deleted` = 0';

/** The statement for one Glance image by id; `includeDeleted` also finds soft-deleted rows. */
export function imageByIdStatement(id: string, includeDeleted: boolean): ImageSelect {
  return (columns) => ({ sql: 'SELECT ' + columns + (includeDeleted ? BY_ID : LIVE_BY_ID), bindings: [id] });
}

/**
 * Runs `select` and returns its images complete with properties, tags and live locations, in the
 * statement's row order: one statement, the children coming from images.children; only rows whose
 * document was never written take loadChildren's three more.
 */
export async function loadImages(runner: StatementRunner, db: Knex | Knex.Transaction, select: ImageSelect): Promise<Image[]> {
  const rows = await runner.rows(db, select(IMAGE_SELECT_WITH_CHILDREN));
  const unwritten = rows.filter((row) => row[CHILDREN_COLUMN] === null).map((row) => row[0] as string);
  const fromTables = unwritten.length > 0 ? await loadChildren(runner, db, unwritten) : undefined;
  return rows.map((row) => {
    const document = row[CHILDREN_COLUMN] as string | null;
    return imageFromRow(row, document === null ? fromTables?.get(row[0] as string) : childrenFromDocument(document));
  });
}

/**
 * Rewrites images.children of `id` from the child tables, as this transaction sees them; every
 * transaction that changes properties, tags or locations ends with it.
 */
export async function writeChildrenDocument(runner: StatementRunner, trx: Knex.Transaction, id: string): Promise<void> {
  const children = await loadChildren(runner, trx, [id]);
  await trx('images').where({ id }).update({ children: childrenDocument(children.get(id)) });
}

/**
 * Properties by name, tags by value and live locations in the order they were added, for each of
 * `ids`: one statement per child table for the whole batch (see childStatements).
 *
 * Three narrow statements rather than one UNION ALL or JSON aggregate: on SQLite a statement costs
 * no round trip and the wide union rows cost more to materialise; on MariaDB the union (materialised
 * in a temporary table) and JSON_ARRAYAGG both measured slower than the three statements even run
 * one after another. Here they run concurrently, on three pool connections with MySQL.
 */
async function loadChildren(runner: StatementRunner, db: Knex | Knex.Transaction, ids: string[]): Promise<Map<string, Children>> {
  const [properties, tags, locations] = await Promise.all(childStatements(ids).map((statement) => runner.rows(db, statement)));
  const byImage = new Map<string, Children>();
  // defineProperty, not assignment: a property may be called "__proto__".
  const setProperty = (target: Record<string, string>, name: string, value: string) =>
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  const childrenOf = (id: string): Children => {
    let children = byImage.get(id);
    if (children === undefined) {
      children = { properties: {}, tags: [], locations: [] };
      byImage.set(id, children);
    }
    return children;
  };
  for (const row of properties) setProperty(childrenOf(row[0] as string).properties, row[1] as string, row[2] as string);
  for (const row of tags) childrenOf(row[0] as string).tags.push(row[1] as string);
  for (const row of locations) {
    childrenOf(row[0] as string).locations.push({
      storeId: row[1] as string,
      key: row[2] as string,
      metadata: JSON.parse(row[3] as string) as Record<string, unknown>,
      createdAt: toDate(row[4] as DbInteger),
    });
  }
  return byImage;
}

/**
 * The statements loadChildren runs: properties (image_id, name, value), tags (image_id, value) and
 * live locations (image_id, store_id, object_key, metadata, created_at). Each ORDER BY follows an
 * index — (image_id, name), (image_id, value), (image_id, status) + id — so neither database sorts.
 */
export function childStatements(ids: string[]): SqlStatement[] {
  const inIds = '`image_id` IN (' + placeholders(ids.length) + ')';
  return [
    {
      sql: 'SELECT `image_id`, `name`, `value` FROM `image_properties` WHERE ' + inIds + ' ORDER BY `image_id`, `name`',
      bindings: ids,
    },
    {
      sql: 'SELECT `image_id`, `value` FROM `image_tags` WHERE ' + inIds + ' ORDER BY `image_id`, `value`',
      bindings: ids,
    },
    {
      sql:
        'SELECT `image_id`, `store_id`, `object_key`, `metadata`, `created_at` FROM `image_locations` WHERE ' +
        inIds +
        ' AND `status` = ? ORDER BY `image_id`, `id`',
      bindings: [...ids, LIVE_LOCATION],
    },
  ];
}
