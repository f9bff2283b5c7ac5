import type { ColumnFilter, FilterColumn, FilterOperator, SortDirection, SortKey } from '../../../domain/repositories';
import { fail } from '../../../domain/errors';
import { MEMBER_STATUSES, type MemberStatus, VISIBILITIES, type Visibility } from '../../../domain/image';
import type { ListImagesRequest } from '../../../domain/image-service';

/** Parses `GET /v2/images` query parameters (spec §7) into a domain list request. */

/** Glance's sort keys, by the image field each one orders by. */
const SORT_FIELDS: Readonly<Record<string, SortKey>> = {
  name: 'name',
  status: 'status',
  container_format: 'containerFormat',
  disk_format: 'diskFormat',
  size: 'size',
  id: 'id',
  created_at: 'createdAt',
  updated_at: 'updatedAt',
};
export const SORT_KEYS: readonly string[] = Object.keys(SORT_FIELDS);
/** Query parameters that filter on an image field, by the field. */
const SIMPLE_FILTERS: Readonly<Record<string, FilterColumn>> = { name: 'name', id: 'id', status: 'status', container_format: 'containerFormat', disk_format: 'diskFormat' };
const EXACT_FILTERS: Readonly<Record<string, FilterColumn>> = { owner: 'owner', checksum: 'checksum', os_hash_value: 'osHashValue', os_hash_algo: 'osHashAlgo' };
const NUMERIC_FILTERS: Readonly<Record<string, FilterColumn>> = { min_ram: 'minRam', min_disk: 'minDisk', virtual_size: 'virtualSize', size: 'size' };
const TIME_FILTERS = { created_at: 'createdAt', updated_at: 'updatedAt' } as const;
const TIME_OPERATORS: readonly FilterOperator[] = ['gt', 'gte', 'lt', 'lte', 'neq', 'eq'];
const HANDLED = new Set(['limit', 'marker', 'sort', 'sort_key', 'sort_dir', 'visibility', 'member_status', 'tag', 'size_min', 'size_max', 'protected', 'os_hidden', 'created_at', 'updated_at']);

export type QueryParams = Record<string, string | string[] | undefined>;

const bad = (message: string): never => fail('BAD_QUERY', message);

function all(params: QueryParams, name: string): string[] {
  const value = params[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function last(params: QueryParams, name: string): string | undefined {
  const values = all(params, name);
  return values[values.length - 1];
}

export function parseListQuery(params: QueryParams): ListImagesRequest {
  if ('changes-since' in params) bad('The changes-since parameter is no longer supported in v2.');
  const request: ListImagesRequest = { sort: parseSort(params), filters: [], properties: {}, tags: all(params, 'tag') };

  const limit = last(params, 'limit');
  if (limit !== undefined) {
    if (!/^-?\d+$/.test(limit)) bad('limit param must be an integer');
    const n = Number(limit);
    if (n < 0) bad('limit param must be positive');
    request.limit = n;
  }
  request.marker = last(params, 'marker');

  const visibility = last(params, 'visibility');
  if (visibility !== undefined) {
    if (visibility !== 'all' && !VISIBILITIES.includes(visibility as Visibility)) bad(`Invalid visibility value: ${visibility}`);
    request.visibility = visibility as Visibility | 'all';
  }
  const memberStatus = last(params, 'member_status');
  if (memberStatus !== undefined) {
    if (memberStatus !== 'all' && !MEMBER_STATUSES.includes(memberStatus as MemberStatus)) bad(`Invalid status value: ${memberStatus}`);
    request.memberStatus = memberStatus as MemberStatus | 'all';
  }
  for (const [name, op] of [['size_min', 'gte'], ['size_max', 'lte']] as const) {
    const value = last(params, name);
    if (value === undefined) continue;
    if (!/^\d+$/.test(value)) bad(`${name} must be an integer`);
    request.filters.push({ column: 'size', op, value: Number(value) });
  }
  const protectedFlag = last(params, 'protected');
  if (protectedFlag !== undefined) {
    if (protectedFlag !== 'true' && protectedFlag !== 'false') bad(`Invalid value for protected: ${protectedFlag}`);
    request.filters.push({ column: 'protected', op: 'eq', value: protectedFlag === 'true' });
  }
  const hidden = last(params, 'os_hidden');
  if (hidden !== undefined) {
    const v = hidden.toLowerCase();
    if (v !== 'true' && v !== 'false') bad(`Invalid value for os_hidden: ${hidden}`);
    request.osHidden = v === 'true';
  }
  for (const name of ['created_at', 'updated_at'] as const) {
    for (const value of all(params, name)) request.filters.push(parseTimeFilter(name, value));
  }
  for (const [name, raw] of Object.entries(params)) {
    if (HANDLED.has(name) || raw === undefined) continue;
    const value = last(params, name) as string;
    if (Object.hasOwn(SIMPLE_FILTERS, name)) {
      request.filters.push(parseOperatorFilter(SIMPLE_FILTERS[name], value));
    } else if (Object.hasOwn(EXACT_FILTERS, name)) {
      request.filters.push({ column: EXACT_FILTERS[name], op: 'eq', value });
    } else if (Object.hasOwn(NUMERIC_FILTERS, name)) {
      // A non-numeric value can match nothing; Glance answers an empty list rather than an error.
      request.filters.push({ column: NUMERIC_FILTERS[name], op: 'eq', value: /^\d+$/.test(value) ? Number(value) : -1 });
    } else {
      request.properties[name] = value;
    }
  }
  return request;
}

function parseSort(params: QueryParams): Array<{ key: SortKey; dir: SortDirection }> {
  const sort = last(params, 'sort');
  const keys = all(params, 'sort_key');
  const dirs = all(params, 'sort_dir');
  if (sort !== undefined) {
    if (keys.length > 0 || dirs.length > 0) bad('The sort and sort_key/sort_dir parameters cannot be used together.');
    return sort.split(',').map((item) => {
      const [key, dir = 'desc', ...rest] = item.trim().split(':');
      if (rest.length > 0) bad(`Invalid sort value: ${item}`);
      return { key: sortKey(key), dir: sortDir(dir) };
    });
  }
  if (dirs.length > 1 && dirs.length !== keys.length) bad('Number of sort dirs does not match the number of sort keys');
  // A direction alone applies to the default key.
  if (keys.length === 0 && dirs.length === 1) return [{ key: 'createdAt', dir: sortDir(dirs[0]) }];
  return keys.map((key, i) => ({ key: sortKey(key), dir: sortDir(dirs.length > 1 ? dirs[i] : (dirs[0] ?? 'desc')) }));
}

function sortKey(key: string): SortKey {
  if (!Object.hasOwn(SORT_FIELDS, key)) bad(`Invalid sort key: ${key}. It should be one of the following: ${SORT_KEYS.join(', ')}.`);
  return SORT_FIELDS[key];
}

function sortDir(dir: string): SortDirection {
  if (dir !== 'asc' && dir !== 'desc') bad(`Invalid sort direction: ${dir}`);
  return dir as SortDirection;
}

/** `value`, `eq:value` or `in:a,"b,c"` (double quotes protect commas, backslash escapes quotes). */
function parseOperatorFilter(column: FilterColumn, raw: string): ColumnFilter {
  const colon = raw.indexOf(':');
  if (colon < 0) return { column, op: 'eq', value: raw };
  const op = raw.slice(0, colon);
  const rest = raw.slice(colon + 1);
  if (op === 'eq') return { column, op: 'eq', value: rest };
  if (op === 'in') return { column, op: 'in', value: splitQuotedList(rest) };
  return bad(`Unable to filter on a unknown operator '${op}'.`);
}

function splitQuotedList(text: string): string[] {
  const values: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\' && i + 1 < text.length) current += text[++i];
    else if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      values.push(current);
      current = '';
    } else current += ch;
  }
  if (quoted) bad(`Invalid in-list: unbalanced quotes in ${text}`);
  values.push(current);
  return values;
}

function parseTimeFilter(name: keyof typeof TIME_FILTERS, raw: string): ColumnFilter {
  let op: FilterOperator = 'eq';
  let value = raw;
  const match = /^([a-z]+):(.*)$/.exec(raw);
  if (match && !/^\d/.test(raw)) {
    if (!(TIME_OPERATORS as readonly string[]).includes(match[1])) bad(`Invalid operator ${match[1]} for ${name}`);
    op = match[1] as FilterOperator;
    value = match[2];
  }
  const date = parseIsoTime(value);
  if (!date) bad(`Invalid time format for ${name}: ${value}`);
  return { column: TIME_FILTERS[name], op, value: date };
}

function parseIsoTime(value: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(value)) return null;
  const normalized = /(Z|[+-]\d{2}:?\d{2})$/.test(value) ? value : `${value}${value.length > 10 ? 'Z' : 'T00:00:00Z'}`;
  const date = new Date(normalized.replace(' ', 'T'));
  return Number.isNaN(date.getTime()) ? null : date;
}
