import { MEMBER_STATUSES, VISIBILITIES } from '../../../domain/image';
import { UUID_PATTERN } from '../../../domain/image-rules';
import { OPERATOR_PROPERTIES } from './image-attributes';

/**
 * JSON schemas served under /v2/schemas (spec §17). glanceclient validates every image document
 * against the image schema and builds its CLI from it, so enums must mirror configuration and
 * contain null, and custom properties must be strings.
 */

const uuidPattern = UUID_PATTERN.source;

/** The image statuses in the order Glance's schema lists them (not the domain's order). */
const SCHEMA_IMAGE_STATUSES = ['queued', 'saving', 'active', 'killed', 'deleted', 'uploading', 'importing', 'pending_delete', 'deactivated'];

export function imageSchema(formats: { diskFormats: readonly string[]; containerFormats: readonly string[] }): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    id: { type: 'string', description: 'An identifier for the image', pattern: uuidPattern },
    name: { type: ['null', 'string'], description: 'Descriptive name for the image', maxLength: 255 },
    status: { type: 'string', readOnly: true, description: 'Status of the image', enum: [...SCHEMA_IMAGE_STATUSES] },
    visibility: { type: 'string', description: 'Scope of image accessibility', enum: ['community', 'public', 'private', 'shared'] },
    protected: { type: 'boolean', description: 'If true, image will not be deletable.' },
    os_hidden: { type: 'boolean', description: 'If true, image will not appear in default image list response.' },
    checksum: { type: ['null', 'string'], readOnly: true, description: 'md5 hash of image contents.', maxLength: 32 },
    os_hash_algo: { type: ['null', 'string'], readOnly: true, description: 'Algorithm to calculate the os_hash_value', maxLength: 64 },
    os_hash_value: { type: ['null', 'string'], readOnly: true, description: 'Hexdigest of the image contents using the algorithm specified by the os_hash_algo', maxLength: 128 },
    owner: { type: ['null', 'string'], description: 'Owner of the image', maxLength: 255 },
    size: { type: ['null', 'integer'], readOnly: true, description: 'Size of image file in bytes' },
    virtual_size: { type: ['null', 'integer'], readOnly: true, description: 'Virtual size of image in bytes' },
    container_format: { type: ['null', 'string'], description: 'Format of the container', enum: [null, ...formats.containerFormats] },
    disk_format: { type: ['null', 'string'], description: 'Format of the disk', enum: [null, ...formats.diskFormats] },
    created_at: { type: 'string', readOnly: true, description: 'Date and time of image registration' },
    updated_at: { type: 'string', readOnly: true, description: 'Date and time of the last image modification' },
    tags: { type: 'array', description: 'List of strings related to the image', items: { type: 'string', maxLength: 255 } },
    direct_url: { type: 'string', readOnly: true, description: 'URL to access the image file kept in external store' },
    min_ram: { type: 'integer', description: 'Amount of ram (in MB) required to boot image.' },
    min_disk: { type: 'integer', description: 'Amount of disk space (in GB) required to boot image.' },
    self: { type: 'string', readOnly: true, description: 'An image self url' },
    file: { type: 'string', readOnly: true, description: 'An image file url' },
    stores: { type: 'string', readOnly: true, description: 'Store in which image data resides.  Only present when the operator has enabled multiple stores.  May be a comma-separated list of store identifiers.' },
    schema: { type: 'string', readOnly: true, description: 'An image schema url' },
    locations: {
      type: 'array',
      description: 'A set of URLs to access the image file kept in external store',
      items: {
        type: 'object',
        required: ['url', 'metadata'],
        properties: {
          url: { type: 'string', maxLength: 255 },
          metadata: { type: 'object' },
          validation_data: {
            description:
              "Values to be used to populate the corresponding image properties. If the image status is not 'queued', values must exactly match those already contained in the image properties.",
            type: 'object',
            writeOnly: true,
            additionalProperties: false,
            required: ['os_hash_algo', 'os_hash_value'],
            properties: {
              checksum: { type: 'string', minLength: 32, maxLength: 32 },
              os_hash_algo: { type: 'string', maxLength: 64 },
              os_hash_value: { type: 'string', maxLength: 128 },
            },
          },
        },
      },
    },
  };
  for (const [name, extra] of Object.entries(OPERATOR_PROPERTIES)) {
    const schema: Record<string, unknown> = { type: extra.nullable ? ['null', 'string'] : 'string', description: extra.description, is_base: false };
    if (extra.pattern) schema.pattern = extra.pattern.source;
    if (extra.enum) schema.enum = [...extra.enum];
    properties[name] = schema;
  }
  return {
    name: 'image',
    properties,
    additionalProperties: { type: 'string' },
    links: [
      { rel: 'self', href: '{self}' },
      { rel: 'enclosure', href: '{file}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

export function imagesSchema(image: Record<string, unknown>): Record<string, unknown> {
  return {
    name: 'images',
    properties: {
      images: { type: 'array', items: image },
      first: { type: 'string' },
      next: { type: 'string' },
      schema: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

export function memberSchema(): Record<string, unknown> {
  return {
    name: 'member',
    properties: {
      created_at: { type: 'string', description: 'Date and time of image member creation' },
      image_id: { type: 'string', description: 'An identifier for the image', pattern: uuidPattern },
      member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
      status: { type: 'string', description: 'The status of this image member', enum: [...MEMBER_STATUSES] },
      updated_at: { type: 'string', description: 'Date and time of last modification of image member' },
      schema: { type: 'string', readOnly: true },
    },
  };
}

export function membersSchema(): Record<string, unknown> {
  return {
    name: 'members',
    properties: { members: { type: 'array', items: memberSchema() }, schema: { type: 'string' } },
    links: [{ rel: 'describedby', href: '{schema}' }],
  };
}

/** Task properties as Glance lists them; `location_import` is Glance 2024.2's (API 2.17) location task. */
function taskProperties(): Record<string, Record<string, unknown>> {
  return {
    id: { description: 'An identifier for the task', pattern: uuidPattern, type: 'string' },
    type: { description: 'The type of task represented by this content', enum: ['import', 'api_image_import', 'location_import'], type: 'string' },
    status: { description: 'The current status of this task', enum: ['pending', 'processing', 'success', 'failure'], type: 'string' },
    input: { description: 'The parameters required by task, JSON blob', type: ['null', 'object'] },
    result: { description: 'The result of current task, JSON blob', type: ['null', 'object'] },
    owner: { description: 'An identifier for the owner of this task', type: 'string' },
    message: { description: 'Human-readable informative message only included when appropriate (usually on failure)', type: 'string' },
    image_id: { description: 'Image associated with the task', type: 'string' },
    request_id: { description: 'Human-readable informative request-id', type: 'string' },
    user_id: { description: 'User associated with the task', type: 'string' },
    expires_at: { description: 'Datetime when this resource would be subject to removal', type: ['null', 'string'] },
    created_at: { description: 'Datetime when this resource was created', type: 'string' },
    updated_at: { description: 'Datetime when this resource was updated', type: 'string' },
    self: { readOnly: true, type: 'string' },
    schema: { readOnly: true, type: 'string' },
  };
}

/** `/v2/schemas/task`: Glance's task schema has no links and no required list. */
export function taskSchema(): Record<string, unknown> {
  return { name: 'task', properties: taskProperties() };
}

/**
 * `/v2/schemas/tasks`: list entries are task stubs (no input, result or message), and the
 * collection has only the `schema` property and a `describedby` link, as Glance serves it.
 */
export function tasksSchema(): Record<string, unknown> {
  const { input: _input, result: _result, message: _message, ...stub } = taskProperties();
  return {
    name: 'tasks',
    properties: { tasks: { type: 'array', items: { name: 'task', properties: stub } }, schema: { type: 'string' } },
    links: [{ rel: 'describedby', href: '{schema}' }],
  };
}

export const VISIBILITY_VALUES = VISIBILITIES;
