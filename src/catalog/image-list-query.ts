import type { Knex } from 'knex';
import { GlintError } from '../domain/errors';
import { HIDDEN_STATUSES, type Image } from '../domain/image';
import type { ColumnFilter, FilterColumn, ImageListQuery, ListScope, SortKey } from './repository';
import { orderByKeyset, whereAfterKeyset, type KeysetColumn } from './sql';

/** Translation of an ImageListQuery into one SELECT on `images`. */

type ColumnType = 'text' | 'integer' | 'boolean' | 'timestamp';

const FILTER_COLUMNS: Readonly<Record<FilterColumn, { column: string; type: ColumnType }>> = {
  id: { column: 'images.id', type: 'text' },
  name: { column: 'images.name', type: 'text' },
  status: { column: 'images.status', type: 'text' },
  visibility: { column: 'images.visibility', type: 'text' },
  container_format: { column: 'images.container_format', type: 'text' },
  disk_format: { column: 'images.disk_format', type: 'text' },
  owner: { column: 'images.owner', type: 'text' },
  checksum: { column: 'images.checksum', type: 'text' },
  os_hash_value: { column: 'images.os_hash_value', type: 'text' },
  os_hash_algo: { column: 'images.os_hash_algo', type: 'text' },
  size: { column: 'images.size', type: 'integer' },
  virtual_size: { column: 'images.virtual_size', type: 'integer' },
  min_ram: { column: 'images.min_ram', type: 'integer' },
  min_disk: { column: 'images.min_disk', type: 'integer' },
  protected: { column: 'images.protected', type: 'boolean' },
  os_hidden: { column: 'images.os_hidden', type: 'boolean' },
  created_at: { column: 'images.created_at', type: 'timestamp' },
  updated_at: { column: 'images.updated_at', type: 'timestamp' },
};

const SORT_COLUMNS: Readonly<Record<SortKey, { column: string; valueOf: (image: Image) => string | number | null }>> = {
  name: { column: 'images.name', valueOf: (image) => image.name },
  status: { column: 'images.status', valueOf: (image) => image.status },
  container_format: { column: 'images.container_format', valueOf: (image) => image.containerFormat },
  disk_format: { column: 'images.disk_format', valueOf: (image) => image.diskFormat },
  size: { column: 'images.size', valueOf: (image) => image.size },
  id: { column: 'images.id', valueOf: (image) => image.id },
  created_at: { column: 'images.created_at', valueOf: (image) => image.createdAt.getTime() },
  updated_at: { column: 'images.updated_at', valueOf: (image) => image.updatedAt.getTime() },
};

/** Used when a query brings no sort keys, so that a marker still has an order to follow. */
const FALLBACK_SORT: ImageListQuery['sort'] = [{ key: 'id', dir: 'asc' }];

export function buildImageListQuery(knex: Knex, query: ImageListQuery): Knex.QueryBuilder {
  const select = knex('images')
    .select('images.*')
    .where('images.deleted', false)
    .whereNotIn('images.status', HIDDEN_STATUSES);
  applyScope(knex, select, query.scope);
  for (const filter of query.filters) applyColumnFilter(select, filter);
  for (const [name, value] of Object.entries(query.properties)) {
    select.whereExists(
      knex('image_properties')
        .select(knex.raw('1'))
        .whereRaw('?? = ??', ['image_properties.image_id', 'images.id'])
        .where('image_properties.name', name)
        .where('image_properties.value', value),
    );
  }
  for (const tag of new Set(query.tags)) {
    select.whereExists(
      knex('image_tags').select(knex.raw('1')).whereRaw('?? = ??', ['image_tags.image_id', 'images.id']).where('image_tags.value', tag),
    );
  }
  const sort = query.sort.length > 0 ? query.sort : FALLBACK_SORT;
  const marker = query.marker;
  const keyset: KeysetColumn[] = sort.map(({ key, dir }) => ({
    column: SORT_COLUMNS[key].column,
    dir,
    value: marker ? SORT_COLUMNS[key].valueOf(marker) : null,
  }));
  if (marker) whereAfterKeyset(select, keyset);
  orderByKeyset(select, keyset);
  return select.limit(query.limit);
}

function applyScope(knex: Knex, select: Knex.QueryBuilder, scope: ListScope): void {
  const { projectId, includeAllCommunity } = scope;
  if (scope.kind === 'everything') {
    if (includeAllCommunity) return;
    select.where((visible) => {
      visible.whereNot('images.visibility', 'community');
      if (projectId !== null) visible.orWhere('images.owner', projectId);
    });
    return;
  }
  select.where((visible) => {
    visible.where('images.visibility', 'public');
    if (projectId !== null) {
      visible.orWhere('images.owner', projectId);
      const membership = knex('image_members')
        .select(knex.raw('1'))
        .whereRaw('?? = ??', ['image_members.image_id', 'images.id'])
        .where('image_members.member', projectId);
      if (scope.memberStatus !== 'all') membership.where('image_members.status', scope.memberStatus);
      visible.orWhere((shared) => shared.where('images.visibility', 'shared').whereExists(membership));
    }
    if (includeAllCommunity) visible.orWhere('images.visibility', 'community');
  });
}

type SqlValue = string | number;

function applyColumnFilter(select: Knex.QueryBuilder, filter: ColumnFilter): void {
  const { column, type } = FILTER_COLUMNS[filter.column];
  const { op, value } = filter;
  if (op === 'in') {
    const values = Array.isArray(value) ? value : [value];
    select.whereIn(
      column,
      values.map((item) => toSqlValue(filter.column, type, item)),
    );
    return;
  }
  if (Array.isArray(value)) throw invalidFilter(filter.column, `operator ${op} takes a single value`);
  if (value === null) {
    if (op === 'eq') select.whereNull(column);
    else if (op === 'neq') select.whereNotNull(column);
    else throw invalidFilter(filter.column, `operator ${op} cannot compare with null`);
    return;
  }
  const sqlValue = toSqlValue(filter.column, type, value);
  switch (op) {
    case 'eq':
      select.where(column, sqlValue);
      return;
    case 'neq':
      // "Not equal" includes rows where the column is NULL, unlike SQL's `<>`.
      select.where((different) => different.whereNot(column, sqlValue).orWhereNull(column));
      return;
    case 'gt':
      select.where(column, '>', sqlValue);
      return;
    case 'gte':
      select.where(column, '>=', sqlValue);
      return;
    case 'lt':
      select.where(column, '<', sqlValue);
      return;
    case 'lte':
      select.where(column, '<=', sqlValue);
      return;
  }
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
