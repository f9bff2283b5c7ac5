import { fail } from '../../../domain/errors';
import { VISIBILITIES, type Visibility } from '../../../domain/image';
import { UUID_PATTERN, validateTag } from '../../../domain/image-rules';

/**
 * Glance's image attributes on the wire: which a client may write, which are read-only or
 * reserved, and how each value is checked (the image schema of Glance §17 plus the rules of §6
 * and §9). Shared by create and update so both answer alike.
 */

const invalid = (message: string): never => fail('BAD_REQUEST', message);

/** Attributes a client may set. */
export const WRITABLE_BASE_ATTRIBUTES = [
  'name',
  'visibility',
  'protected',
  'os_hidden',
  'owner',
  'min_ram',
  'min_disk',
  'container_format',
  'disk_format',
  'tags',
] as const;
export type WritableBaseAttribute = (typeof WRITABLE_BASE_ATTRIBUTES)[number];

/** Attributes the service computes; writing them is forbidden (403). */
export const READ_ONLY_ATTRIBUTES = [
  'id',
  'status',
  'checksum',
  'size',
  'virtual_size',
  'created_at',
  'updated_at',
  'os_hash_algo',
  'os_hash_value',
  'direct_url',
  'self',
  'file',
  'schema',
  'stores',
] as const;

/** Read-only attributes refused on create before anything else is checked (§6 step 2). */
export const CREATE_FORBIDDEN_FIRST = ['direct_url', 'self', 'file', 'schema', 'stores'] as const;
/** Read-only attributes that create silently ignores (spec §0.4). */
export const CREATE_IGNORED = ['os_hash_algo', 'os_hash_value'] as const;

/** Every base attribute: their names never become custom properties. */
export const BASE_ATTRIBUTES = new Set<string>([...WRITABLE_BASE_ATTRIBUTES, ...READ_ONLY_ATTRIBUTES, 'locations']);

export function isReservedProperty(key: string): boolean {
  return key === 'location' || key === 'deleted' || key === 'deleted_at' || key.startsWith('os_glance');
}

/** Operator extras of Glance's stock schema-image.json: known custom properties with constraints. */
export const OPERATOR_PROPERTIES: Readonly<Record<string, { nullable: boolean; pattern?: RegExp; enum?: readonly string[]; description: string }>> = {
  kernel_id: { nullable: true, pattern: UUID_PATTERN, description: 'ID of image stored in Glance that should be used as the kernel when booting an AMI-style image.' },
  ramdisk_id: { nullable: true, pattern: UUID_PATTERN, description: 'ID of image stored in Glance that should be used as the ramdisk when booting an AMI-style image.' },
  instance_uuid: { nullable: false, description: 'Metadata which can be used to record which instance this image is associated with. (Informational only, does not create an instance snapshot.)' },
  architecture: { nullable: false, description: 'Operating system architecture as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html' },
  os_distro: { nullable: false, description: 'Common name of operating system distribution as specified in https://docs.openstack.org/python-glanceclient/latest/cli/property-keys.html' },
  os_version: { nullable: false, description: 'Operating system version as specified by the distributor.' },
  description: { nullable: false, description: 'A human-readable string describing this image.' },
  cinder_encryption_key_id: { nullable: false, description: 'Identifier in the OpenStack Key Management Service for the encryption key for the Block Storage Service to use when mounting a volume created from this image' },
  cinder_encryption_key_deletion_policy: {
    nullable: false,
    enum: ['on_image_deletion', 'do_not_delete'],
    description: "States the condition under which the Image Service will delete the object associated with the 'cinder_encryption_key_id' image property.  If this property is missing, the Image Service will take no action",
  },
};

export interface FormatPolicy {
  diskFormats: readonly string[];
  containerFormats: readonly string[];
}


function checkString(name: string, value: unknown, options: { nullable: boolean; maxLength?: number }): void {
  if (value === null && options.nullable) return;
  if (typeof value !== 'string') invalid(`Invalid value for ${name}: ${JSON.stringify(value)} is not of type ${options.nullable ? "'null', 'string'" : "'string'"}`);
  if (options.maxLength !== undefined && (value as string).length > options.maxLength) {
    invalid(`Invalid value for ${name}: ${JSON.stringify(value)} is too long`);
  }
}

function checkInteger(name: string, value: unknown, nullable: boolean): void {
  if (value === null && nullable) return;
  if (typeof value !== 'number' || !Number.isInteger(value)) invalid(`Invalid value for ${name}: ${JSON.stringify(value)} is not of type 'integer'`);
}

/**
 * Type checks of one attribute as the image schema would do them (400 on failure). Read-only
 * attributes are type-checked too: Glance rejects a correctly typed read-only attribute with
 * 403 only after the schema passed.
 */
export function validateAttributeValue(name: string, value: unknown, formats: FormatPolicy): void {
  switch (name) {
    case 'id':
      checkString(name, value, { nullable: false });
      if (!UUID_PATTERN.test(value as string)) invalid(`Invalid value for id: ${JSON.stringify(value)} does not match UUID pattern`);
      return;
    case 'name':
    case 'owner':
      return checkString(name, value, { nullable: true, maxLength: 255 });
    case 'visibility':
      if (!VISIBILITIES.includes(value as Visibility)) invalid(`Invalid value for visibility: ${JSON.stringify(value)} is not one of ${VISIBILITIES.join(', ')}`);
      return;
    case 'protected':
    case 'os_hidden':
      if (typeof value !== 'boolean') invalid(`Invalid value for ${name}: ${JSON.stringify(value)} is not of type 'boolean'`);
      return;
    case 'min_ram':
    case 'min_disk':
      return checkInteger(name, value, false);
    case 'container_format':
    case 'disk_format': {
      const allowed = name === 'disk_format' ? formats.diskFormats : formats.containerFormats;
      if (value !== null && !(typeof value === 'string' && allowed.includes(value))) {
        invalid(`Invalid value for ${name}: ${JSON.stringify(value)} is not one of [None, ${allowed.join(', ')}]`);
      }
      return;
    }
    case 'tags':
      if (!Array.isArray(value)) invalid(`Invalid value for tags: ${JSON.stringify(value)} is not of type 'array'`);
      for (const tag of value as unknown[]) validateTag(tag);
      return;
    case 'status':
      checkString(name, value, { nullable: false });
      return;
    case 'checksum':
      return checkString(name, value, { nullable: true, maxLength: 32 });
    case 'os_hash_algo':
      return checkString(name, value, { nullable: true, maxLength: 64 });
    case 'os_hash_value':
      return checkString(name, value, { nullable: true, maxLength: 128 });
    case 'size':
    case 'virtual_size':
      return checkInteger(name, value, true);
    case 'created_at':
    case 'updated_at':
    case 'direct_url':
    case 'self':
    case 'file':
    case 'schema':
    case 'stores':
      return checkString(name, value, { nullable: false });
    case 'locations':
      if (!Array.isArray(value)) invalid(`Invalid value for locations: not of type 'array'`);
      return;
    default:
      return validateCustomProperty(name, value);
  }
}

export function validateCustomProperty(key: string, value: unknown): void {
  const extra = OPERATOR_PROPERTIES[key];
  if (extra) {
    checkString(key, value, { nullable: extra.nullable, maxLength: 255 });
    if (value === null) return;
    if (extra.pattern && !extra.pattern.test(value as string)) invalid(`Invalid value for ${key}: ${JSON.stringify(value)} does not match pattern`);
    if (extra.enum && !extra.enum.includes(value as string)) invalid(`Invalid value for ${key}: ${JSON.stringify(value)} is not one of ${extra.enum.join(', ')}`);
    return;
  }
  if (typeof value !== 'string') invalid(`Invalid value for ${key}: ${JSON.stringify(value)} is not of type 'string'`);
}

