import { fail } from '../../../domain/errors';
import type { EditableAttributes, ImageChange, NewImage } from '../../../domain/image-commands';
import { validatePropertyKey } from '../../../domain/image-rules';
import {
  BASE_ATTRIBUTES,
  CREATE_FORBIDDEN_FIRST,
  CREATE_IGNORED,
  type FormatPolicy,
  isReservedProperty,
  READ_ONLY_ATTRIBUTES,
  validateAttributeValue,
} from './image-attributes';

/** Glance's writable base attributes, by the domain field each one sets. */
const FIELDS: Readonly<Record<string, keyof EditableAttributes>> = {
  name: 'name',
  visibility: 'visibility',
  protected: 'protected',
  os_hidden: 'osHidden',
  owner: 'owner',
  min_ram: 'minRam',
  min_disk: 'minDisk',
  container_format: 'containerFormat',
  disk_format: 'diskFormat',
};

/** One JSON-patch step as the Glance PATCH body gives it (patch.ts has parsed the pointer). */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace';
  /** Top-level attribute or property name. */
  name: string;
  value?: unknown;
  /** The v2.0 patch form, where `add` of an existing key conflicts. */
  strictAdd?: boolean;
  /** `/locations/<position>` of an add or remove (the router hands those to locations.ts). */
  position?: string;
}

export interface GlanceImageRules {
  formats: FormatPolicy;
  showMultipleLocations: boolean;
}

/**
 * `POST /v2/images`: Glance's body rules (read-only, reserved and unknown-typed attributes, in
 * Glance's order of checks), then the typed command. Custom properties become strings (null → '').
 */
export function parseCreateImage(body: Record<string, unknown>, formats: FormatPolicy): NewImage {
  for (const key of CREATE_FORBIDDEN_FIRST) {
    if (key in body) fail('ATTRIBUTE_READ_ONLY', `Attribute '${key}' is read-only.`);
  }
  for (const [key, value] of Object.entries(body)) validateAttributeValue(key, value, formats);
  for (const key of Object.keys(body)) {
    if (!BASE_ATTRIBUTES.has(key)) validatePropertyKey(key);
  }
  for (const key of Object.keys(body)) {
    if (!BASE_ATTRIBUTES.has(key) && isReservedProperty(key)) fail('ATTRIBUTE_RESERVED', `Attribute '${key}' is reserved.`);
  }
  for (const key of READ_ONLY_ATTRIBUTES) {
    if (key in body && !(CREATE_IGNORED as readonly string[]).includes(key) && key !== 'id') fail('ATTRIBUTE_READ_ONLY', `Attribute '${key}' is read-only.`);
  }
  if ('locations' in body) fail('ATTRIBUTE_RESERVED', "Attribute 'locations' is reserved.");

  const draft: NewImage = { properties: {} };
  for (const [key, value] of Object.entries(body)) {
    if (!BASE_ATTRIBUTES.has(key)) (draft.properties as Record<string, string>)[key] = value === null ? '' : (value as string);
  }
  if (typeof body.id === 'string') draft.id = body.id;
  if ('tags' in body) draft.tags = body.tags as string[];
  for (const [key, field] of Object.entries(FIELDS)) {
    if (key in body) Object.assign(draft, { [field]: body[key] });
  }
  return draft;
}

/**
 * `PATCH /v2/images/{id}`: the rules Glance applies to the whole document before it looks the
 * image up, then each operation as a typed change (the service applies them in order).
 */
export function toImageChanges(operations: PatchOperation[], rules: GlanceImageRules): ImageChange[] {
  for (const op of operations) checkOperation(op, rules);
  return operations.map(toImageChange);
}

function checkOperation(op: PatchOperation, rules: GlanceImageRules): void {
  const { name } = op;
  if ((READ_ONLY_ATTRIBUTES as readonly string[]).includes(name)) fail('ATTRIBUTE_READ_ONLY', `Attribute '${name}' is read-only.`);
  // the router takes `/locations` operations out first (locations.ts splitLocationOperations)
  if (name === 'locations') fail('LOCATIONS_NOT_ALLOWED', 'It is not allowed to change image locations.');
  if (!BASE_ATTRIBUTES.has(name)) {
    validatePropertyKey(name);
    if (isReservedProperty(name)) fail('ATTRIBUTE_RESERVED', `Attribute '${name}' is reserved.`);
  }
  if (op.op !== 'remove') validateAttributeValue(name, op.value, rules.formats);
}

function toImageChange(op: PatchOperation): ImageChange {
  const { name } = op;
  if (name === 'tags') return op.op === 'remove' ? { kind: 'unset', label: name } : { kind: 'tags', tags: op.value as string[] };
  const field = Object.hasOwn(FIELDS, name) ? FIELDS[name] : undefined;
  if (field !== undefined) {
    if (op.op === 'remove') return { kind: 'unset', label: name };
    // checkOperation has held the value against the field's type in the image schema
    return { kind: 'attribute', field, value: op.value, label: name, mustNotExist: op.op === 'add' && op.strictAdd } as ImageChange;
  }
  if (op.op === 'remove') return { kind: 'property', op: 'remove', name, mustExist: true };
  const value = op.value === null ? '' : (op.value as string);
  if (op.op === 'replace') return { kind: 'property', op: 'set', name, value, mustExist: true };
  return { kind: 'property', op: 'set', name, value, mustNotExist: op.strictAdd };
}
