import { fail } from '../errors';
import type { PropertySchema } from './model';

/**
 * The keys of Glance's PropertyType (wsme), in its order: a property definition keeps these and
 * drops the rest, and is shown in this order.
 */
const PROPERTY_KEYS = [
  'name', 'type', 'title', 'description', 'operators', 'default', 'readonly', 'minimum', 'maximum', 'enum', 'pattern',
  'minLength', 'maxLength', 'confidential', 'items', 'uniqueItems', 'minItems', 'maxItems', 'additionalItems', 'properties',
] as const;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const INTEGER_KEYS = new Set(['minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems']);
const STRING_LIST_KEYS = new Set(['enum', 'operators']);

/** Python's name for a JSON value's type, as wsme prints it. */
function pyType(value: unknown): string {
  if (typeof value === 'string') return "<class 'str'>";
  if (typeof value === 'boolean') return "<class 'bool'>";
  if (typeof value === 'number') return Number.isInteger(value) ? "<class 'int'>" : "<class 'float'>";
  if (Array.isArray(value)) return "<class 'list'>";
  return value === null ? "<class 'NoneType'>" : "<class 'dict'>";
}

function stringList(key: string, value: unknown): unknown {
  if (!Array.isArray(value)) return value;
  const wrong = value.find((item) => typeof item !== 'string');
  if (wrong !== undefined) {
    fail('METADEF_INVALID', `Invalid input for field/attribute ${key}. Value: '${JSON.stringify(value)}'. Wrong type. Expected '<class 'str'>', got '${pyType(wrong)}'`);
  }
  return value;
}

/** wsme's text conversion of `default`: Python's str() of a scalar; null for a list or an object. */
function defaultText(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return value;
  return null;
}

/**
 * A property definition as Glance keeps and shows it (wsme's PropertyType): its keys only, nulls
 * dropped, in its order; `default` as text, the integer limits truncated; `enum` and `operators`
 * must list strings (METADEF_INVALID otherwise).
 */
export function normalizeProperty(value: Record<string, unknown>): PropertySchema {
  const out: PropertySchema = {};
  for (const key of PROPERTY_KEYS) {
    const item = value[key];
    if (!Object.hasOwn(value, key) || item === null || item === undefined) continue;
    if (key === 'items' && isRecord(item)) {
      const items: Record<string, unknown> = {};
      if (item.type !== undefined && item.type !== null) items.type = item.type;
      if (item.enum !== undefined && item.enum !== null) items.enum = stringList('enum', item.enum);
      out.items = items;
    } else if (key === 'properties' && isRecord(item)) {
      out.properties = Object.fromEntries(Object.entries(item).map(([k, v]) => [k, isRecord(v) ? normalizeProperty(v) : v]));
    } else if (key === 'default') {
      out.default = defaultText(item);
    } else if (INTEGER_KEYS.has(key) && typeof item === 'number') {
      out[key] = Math.trunc(item);
    } else if (STRING_LIST_KEYS.has(key)) {
      out[key] = stringList(key, item);
    } else {
      out[key] = item;
    }
  }
  return out;
}
