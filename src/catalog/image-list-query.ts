import { GlintError } from '../domain/errors';
import { HIDDEN_STATUSES, type Image } from '../domain/image';
import { imagesColumn, type ImageSelect } from './image-rows';
import type { ColumnFilter, FilterColumn, ImageListQuery, ListScope, SortKey } from '../domain/repositories';
import { afterKeyset, keysetOrderBy, type KeysetColumn } from './sql';
import { placeholders, type SqlValue } from './statements';

/**
 * Translation of an ImageListQuery into one SELECT on `images`, as SQL text that means the same to
 * SQLite and MySQL. Written by hand rather than with knex's builder: the text is the key of the
 * prepared-statement caches, and building it costs a few microseconds instead of a few dozen.
 */

type ColumnType = 'text' | 'integer' | 'boolean' | 'timestamp';

const FILTER_COLUMNS: Readonly<Record<FilterColumn, { column: string; type: ColumnType }>> = {
  id: { column: imagesColumn('id'), type: 'text' },
  name: { column: imagesColumn('name'), type: 'text' },
  status: { column: imagesColumn('status'), type: 'text' },
  visibility: { column: imagesColumn('visibility'), type: 'text' },
  containerFormat: { column: imagesColumn('container_format'), type: 'text' },
  diskFormat: { column: imagesColumn('disk_format'), type: 'text' },
  owner: { column: imagesColumn('owner'), type: 'text' },
  checksum: { column: imagesColumn('checksum'), type: 'text' },
  osHashValue: { column: imagesColumn('os_hash_value'), type: 'text' },
  osHashAlgo: { column: imagesColumn('os_hash_algo'), type: 'text' },
  size: { column: imagesColumn('size'), type: 'integer' },
  virtualSize: { column: imagesColumn('virtual_size'), type: 'integer' },
  minRam: { column: imagesColumn('min_ram'), type: 'integer' },
  minDisk: { column: imagesColumn('min_disk'), type: 'integer' },
  protected: { column: imagesColumn('protected'), type: 'boolean' },
  osHidden: { column: imagesColumn('os_hidden'), type: 'boolean' },
  createdAt: { column: imagesColumn('created_at'), type: 'timestamp' },
  updatedAt: { column: imagesColumn('updated_at'), type: 'timestamp' },
};

interface SortColumn {
  column: string;
  /** NOT NULL in the schema (see afterMarker). */
  notNull: boolean;
  valueOf: (image: Image) => string | number | null;
}

type SortKeysetColumn = KeysetColumn & Pick<SortColumn, 'notNull'>;

const SORT_COLUMNS: Readonly<Record<SortKey, SortColumn>> = {
  name: { column: imagesColumn('name'), notNull: false, valueOf: (image) => image.name },
  status: { column: imagesColumn('status'), notNull: true, valueOf: (image) => image.status },
  containerFormat: { column: imagesColumn('container_format'), notNull: false, valueOf: (image) => image.containerFormat },
  diskFormat: { column: imagesColumn('disk_format'), notNull: false, valueOf: (image) => image.diskFormat },
  size: { column: imagesColumn('size'), notNull: false, valueOf: (image) => image.size },
  id: { column: imagesColumn('id'), notNull: true, valueOf: (image) => image.id },
  createdAt: { column: imagesColumn('created_at'), notNull: true, valueOf: (image) => image.createdAt.getTime() },
  updatedAt: { column: imagesColumn('updated_at'), notNull: true, valueOf: (image) => image.updatedAt.getTime() },
};

/** Used when a query brings no sort keys, so that a marker still has an order to follow. */
const FALLBACK_SORT: ImageListQuery['sort'] = [{ key: 'id', dir: 'asc' }];

/** WHERE terms (joined with AND) and their bindings, in text order. */
class Conditions {
  readonly terms: string[] = [];
  readonly bindings: SqlValue[] = [];

  add(term: string, ...bindings: SqlValue[]): void {
    this.terms.push(term);
    this.bindings.push(...bindings);
  }
}

/**
 * Fixed terms of every list, as literals: they are the same in every statement. Only Glance's own
 * rows: container images (kind 'container') are no Glance disk images.
 */
const LIVE_AND_VISIBLE =
  imagesColumn('deleted') +
  ' = 0 AND ' +
  imagesColumn('kind') +
  " = 'glance' AND " +
  imagesColumn('status') +
  ' NOT IN (' +
  HIDDEN_STATUSES.map((status) => `'${status}'`).join(', ') +
  ')';

export function imageListStatement(query: ImageListQuery): ImageSelect {
  // LIMIT as a literal, not a binding: SQLite plans `LIMIT ?` without knowing the row count, and
  // the statement took half as long again. It is an integer checked here, never client text.
  if (!Number.isSafeInteger(query.limit) || query.limit < 0) throw new Error(`Invalid list limit ${query.limit}`);
  const where = new Conditions();
  where.add(LIVE_AND_VISIBLE);
  applyScope(where, query.scope);
  for (const filter of query.filters) applyColumnFilter(where, filter);
  for (const [name, value] of Object.entries(query.properties)) {
    where.add(
      'EXISTS (SELECT 1 FROM `image_properties` WHERE `image_properties`.`image_id` = `images`.`id`' +
        ' AND `image_properties`.`name` = ? AND `image_properties`.`value` = ?)',
      name,
      value,
    );
  }
  for (const tag of new Set(query.tags)) {
    where.add('EXISTS (SELECT 1 FROM `image_tags` WHERE `image_tags`.`image_id` = `images`.`id` AND `image_tags`.`value` = ?)', tag);
  }
  const sort = query.sort.length > 0 ? query.sort : FALLBACK_SORT;
  const marker = query.marker;
  const keys: SortKeysetColumn[] = sort.map(({ key, dir }) => {
    const { column, notNull, valueOf } = SORT_COLUMNS[key];
    return { column, notNull, dir, value: marker ? valueOf(marker) : null };
  });
  if (marker) afterMarker(where, keys);
  const rest = ' FROM `images` WHERE ' + where.terms.join(' AND ') + ' ORDER BY ' + keysetOrderBy(keys) + ' LIMIT ' + String(query.limit);
  return (columns) => ({ sql: 'SELECT ' + columns + rest, bindings: where.bindings });
}

function applyScope(where: Conditions, scope: ListScope): void {
  const { projectId, includeAllCommunity } = scope;
  if (scope.kind === 'everything') {
    if (includeAllCommunity) return;
    if (projectId === null) where.add('(NOT ' + imagesColumn('visibility') + ' = ?)', 'community');
    else where.add('(NOT ' + imagesColumn('visibility') + ' = ? OR ' + imagesColumn('owner') + ' = ?)', 'community', projectId);
    return;
  }
  const terms = [imagesColumn('visibility') + ' = ?'];
  const bindings: SqlValue[] = ['public'];
  if (projectId !== null) {
    terms.push(imagesColumn('owner') + ' = ?');
    bindings.push(projectId);
    let membership = 'SELECT 1 FROM `image_members` WHERE `image_members`.`image_id` = `images`.`id` AND `image_members`.`member` = ?';
    bindings.push('shared', projectId);
    if (scope.memberStatus !== 'all') {
      membership += ' AND `image_members`.`status` = ?';
      bindings.push(scope.memberStatus);
    }
    terms.push('(' + imagesColumn('visibility') + ' = ? AND EXISTS (' + membership + '))');
  }
  if (includeAllCommunity) {
    terms.push(imagesColumn('visibility') + ' = ?');
    bindings.push('community');
  }
  where.add('(' + terms.join(' OR ') + ')', ...bindings);
}

function applyColumnFilter(where: Conditions, filter: ColumnFilter): void {
  const { column, type } = FILTER_COLUMNS[filter.column];
  const { op, value } = filter;
  if (op === 'in') {
    const values = (Array.isArray(value) ? value : [value]).map((item) => toSqlValue(filter.column, type, item));
    if (values.length === 0) where.add('1 = 0');
    else where.add(column + ' IN (' + placeholders(values.length) + ')', ...values);
    return;
  }
  if (Array.isArray(value)) throw invalidFilter(filter.column, `operator ${op} takes a single value`);
  if (value === null) {
    if (op === 'eq') where.add(column + ' IS NULL');
    else if (op === 'neq') where.add(column + ' IS NOT NULL');
    else throw invalidFilter(filter.column, `operator ${op} cannot compare with null`);
    return;
  }
  const sqlValue = toSqlValue(filter.column, type, value);
  switch (op) {
    case 'eq':
      where.add(column + ' = ?', sqlValue);
      return;
    case 'neq':
      // "Not equal" includes rows where the column is NULL, unlike SQL's `<>`.
      where.add('(NOT ' + column + ' = ? OR ' + column + ' IS NULL)', sqlValue);
      return;
    case 'gt':
      where.add(column + ' > ?', sqlValue);
      return;
    case 'gte':
      where.add(column + ' >= ?', sqlValue);
      return;
    case 'lt':
      where.add(column + ' < ?', sqlValue);
      return;
    case 'lte':
      where.add(column + ' <= ?', sqlValue);
      return;
  }
}

/**
 * Keeps the rows that come strictly after the marker in `sort` order (see afterKeyset).
 *
 * That disjunction is no index range, so the bound it implies on the first key (≥ or ≤ the
 * marker's value) is added too: the scan of the sort index then starts at the marker instead of
 * the top, and a deep page costs what the first does.
 */
function afterMarker(where: Conditions, keys: readonly SortKeysetColumn[]): void {
  // NULL sorts lowest: ascending, nothing NULL comes after a value, so `≥` holds for every row
  // after the marker; descending, NULLs do, so only a NOT NULL column has the `≤` bound.
  const [first] = keys;
  if (first !== undefined && first.value !== null) {
    if (first.dir === 'asc') where.add(first.column + ' >= ?', first.value);
    else if (first.notNull) where.add(first.column + ' <= ?', first.value);
  }
  const after = afterKeyset(keys);
  where.add(after.sql, ...after.bindings);
}

function toSqlValue(column: FilterColumn, type: ColumnType, value: string | number | boolean | Date | null): SqlValue {
  if (value === null) throw invalidFilter(column, 'null is not allowed in a list of values');
  switch (type) {
    case 'text':
      if (typeof value === 'string' || typeof value === 'number') return String(value);
      break;
    case 'integer': {
      const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof number === 'number' && Number.isSafeInteger(number)) return number;
      break;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (value === 'true' || value === 'false') return value === 'true' ? 1 : 0;
      break;
    case 'timestamp': {
      const time = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : value;
      if (typeof time === 'number' && Number.isFinite(time)) return time;
      break;
    }
  }
  throw invalidFilter(column, `${JSON.stringify(value)} is not a valid ${type} value`);
}

function invalidFilter(column: FilterColumn, problem: string): GlintError {
  return new GlintError('BAD_QUERY', `Invalid filter on ${column}: ${problem}`);
}
