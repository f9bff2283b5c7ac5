import { fail } from '../../../domain/errors';
import type { LegacyImport, StartImport } from '../../../domain/imports/import-service';
import type { ImportMethod } from '../../../domain/imports/import-task';
import type { FormatPolicy } from './image-attributes';
import { parseCreateImage } from './image-request';

/** What the import body rules depend on. */
export interface ImportRequestRules {
  enabledMethods: readonly ImportMethod[];
  multiStore: boolean;
}

/**
 * `POST /v2/images/{id}/import`: Glance's body shape, checked before the image is looked up —
 * `method` an object with an enabled `name`, `all_stores` and `all_stores_must_succeed` booleans,
 * on multi-store `stores` a list of store ids — then the typed command. The rules that need the
 * image (status, permission, lock, which stores) are the service's.
 */
export function parseImportRequest(body: Record<string, unknown>, headerStore: string | undefined, rules: ImportRequestRules): StartImport {
  const method = body.method as { name?: unknown; uri?: unknown } | undefined;
  if (!method || typeof method !== 'object') fail('IMPORT_METHOD_INVALID', 'Import request requires a "method" object.');
  const name = method.name;
  if (typeof name !== 'string') fail('IMPORT_METHOD_INVALID', 'Import request requires a "method" with a "name".');
  if (!(rules.enabledMethods as readonly string[]).includes(name)) fail('IMPORT_METHOD_INVALID', `Import method ${name} is not valid or not enabled.`);
  for (const field of ['all_stores', 'all_stores_must_succeed'] as const) {
    if (body[field] !== undefined && typeof body[field] !== 'boolean') fail('BAD_REQUEST', `${field} must be a boolean.`);
  }
  const command: StartImport = {
    method: name as ImportMethod,
    allStores: body.all_stores === true,
    allStoresMustSucceed: body.all_stores_must_succeed !== false,
  };
  if (typeof method.uri === 'string') command.uri = method.uri;
  if (rules.multiStore) {
    // a single store ignores every store selection, as Glance does
    const stores = body.stores;
    if (stores !== undefined && (!Array.isArray(stores) || stores.some((s) => typeof s !== 'string'))) fail('BAD_REQUEST', 'stores must be a list of store ids.');
    if (stores !== undefined) command.stores = stores as string[];
    if (headerStore) command.storeFromHeader = headerStore;
  }
  return command;
}

/**
 * `POST /v2/tasks`: `{"type": "import", "input": {"import_from", "import_from_format",
 * "image_properties"}}`. The new image is `image_properties` over `container_format: bare` and
 * `disk_format: <import_from_format>`, under the rules of `POST /v2/images`. The source URL is
 * filtered by the service.
 */
export function parseLegacyImportTask(body: Record<string, unknown>, formats: FormatPolicy): LegacyImport {
  if (body.type !== 'import') fail('BAD_REQUEST', `Invalid task type ${JSON.stringify(body.type)}; only "import" is supported.`);
  const input = body.input as Record<string, unknown> | undefined;
  if (!input || typeof input !== 'object' || Array.isArray(input)) fail('BAD_REQUEST', 'Task input must be an object.');
  const format = input.import_from_format;
  if (typeof format !== 'string' || !formats.diskFormats.includes(format)) {
    fail('BAD_REQUEST', `import_from_format must be one of ${formats.diskFormats.join(', ')}.`);
  }
  const properties = input.image_properties ?? {};
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) fail('BAD_REQUEST', 'image_properties must be an object.');
  const image = parseCreateImage({ container_format: 'bare', disk_format: format, ...(properties as Record<string, unknown>) }, formats);
  return { importFrom: typeof input.import_from === 'string' ? input.import_from : undefined, image, input };
}
