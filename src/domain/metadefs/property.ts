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

/** A property definition as Glance keeps it: PropertyType's keys only (nulls dropped), in its order. */
export function normalizeProperty(value: Record<string, unknown>): PropertySchema {
  const out: PropertySchema = {};
  for (const key of PROPERTY_KEYS) {
    const item = value[key];
    if (!Object.hasOwn(value, key) || item === null || item === undefined) continue;
    if (key === 'items' && isRecord(item)) {
      out.items = Object.fromEntries(['type', 'enum'].filter((k) => item[k] !== undefined && item[k] !== null).map((k) => [k, item[k]]));
    } else if (key === 'properties' && isRecord(item)) {
      out.properties = Object.fromEntries(Object.entries(item).map(([k, v]) => [k, isRecord(v) ? normalizeProperty(v) : v]));
    } else {
      out[key] = item;
    }
  }
  return out;
}
