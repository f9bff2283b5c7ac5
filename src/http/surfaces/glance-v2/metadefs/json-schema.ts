/**
 * The part of JSON Schema (draft 4) Glance's metadef documents use — type, enum, required,
 * properties, additionalProperties, items, maxLength, minimum, uniqueItems, allOf, $ref to
 * #/definitions — with python-jsonschema's wording, which Glance puts in its 400 answers.
 */
type Schema = Record<string, unknown>;

/** The first violation of `schema` by `value` (python-jsonschema's message), or null. */
export function firstViolation(value: unknown, schema: Schema, root: Schema = schema): string | null {
  if (typeof schema.$ref === 'string') return firstViolation(value, resolve(schema.$ref, root), root);
  for (const part of (schema.allOf as Schema[] | undefined) ?? []) {
    const problem = firstViolation(value, part, root);
    if (problem) return problem;
  }
  if (schema.type !== undefined && !matchesType(value, schema.type)) return `${pyRepr(value)} is not of type ${typeList(schema.type)}`;
  if (Array.isArray(schema.enum) && !schema.enum.some((option) => deepEqual(option, value))) return `${pyRepr(value)} is not one of ${pyRepr(schema.enum)}`;
  if (typeof value === 'string') {
    const length = [...value].length;
    if (typeof schema.maxLength === 'number' && length > schema.maxLength) return `${pyRepr(value)} is too long`;
    if (typeof schema.minLength === 'number' && length < schema.minLength) return `${pyRepr(value)} is too short`;
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) return `${pyRepr(value)} is less than the minimum of ${schema.minimum}`;
    if (typeof schema.maximum === 'number' && value > schema.maximum) return `${pyRepr(value)} is greater than the maximum of ${schema.maximum}`;
  }
  if (Array.isArray(value)) {
    if (schema.uniqueItems === true && value.some((item, i) => value.slice(i + 1).some((other) => deepEqual(item, other)))) return `${pyRepr(value)} has non-unique elements`;
    if (schema.items && typeof schema.items === 'object') {
      for (const item of value) {
        const problem = firstViolation(item, schema.items as Schema, root);
        if (problem) return problem;
      }
    }
  }
  if (isObject(value)) return objectViolation(value, schema, root);
  return null;
}

function objectViolation(value: Record<string, unknown>, schema: Schema, root: Schema): string | null {
  for (const name of (schema.required as string[] | undefined) ?? []) {
    if (!Object.hasOwn(value, name)) return `${pyRepr(name)} is a required property`;
  }
  const properties = (schema.properties as Record<string, Schema> | undefined) ?? {};
  const additional = schema.additionalProperties;
  if (additional === false) {
    const extra = Object.keys(value).filter((key) => !Object.hasOwn(properties, key));
    if (extra.length > 0) return `Additional properties are not allowed (${extra.map(pyRepr).join(', ')} ${extra.length === 1 ? 'was' : 'were'} unexpected)`;
  }
  for (const [key, item] of Object.entries(value)) {
    const sub = Object.hasOwn(properties, key) ? properties[key] : isObject(additional) ? additional : undefined;
    if (!sub) continue;
    const problem = firstViolation(item, sub, root);
    if (problem) return problem;
  }
  return null;
}

function resolve(ref: string, root: Schema): Schema {
  const path = ref.replace(/^#\//, '').split('/');
  let node: unknown = root;
  for (const part of path) node = isObject(node) ? node[part] : undefined;
  return isObject(node) ? node : {};
}

function matchesType(value: unknown, type: unknown): boolean {
  const types = Array.isArray(type) ? type : [type];
  return types.some((t) => {
    switch (t) {
      case 'string':
        return typeof value === 'string';
      case 'integer':
        return typeof value === 'number' && Number.isInteger(value);
      case 'number':
        return typeof value === 'number';
      case 'boolean':
        return typeof value === 'boolean';
      case 'array':
        return Array.isArray(value);
      case 'object':
        return isObject(value);
      case 'null':
        return value === null;
      default:
        return true;
    }
  });
}

function typeList(type: unknown): string {
  return Array.isArray(type) ? type.map(pyRepr).join(', ') : pyRepr(type);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Python's repr of a JSON value, as jsonschema prints it. */
export function pyRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof value === 'number') return String(value);
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`).join(', ')}}`;
}
