/** What the request side (import-service.ts) and the job (import-job.ts) agree on. */

/** Interoperable import (`POST /v2/images/{id}/import`). */
export const IMPORT_TASK = 'api_image_import';
/** The deprecated tasks API's import (`POST /v2/tasks`). */
export const LEGACY_IMPORT_TASK = 'import';

export type ImportMethod = 'glance-direct' | 'web-download' | 'copy-image';

/**
 * What a queued `api_image_import` task carries in its `input`: Glance's field names, since
 * `GET /v2/tasks/{id}` shows the input as it is stored.
 */
export interface ImportTaskInput {
  image_id: string;
  method: ImportMethod;
  uri?: string;
  stores: string[];
  all_stores_must_succeed: boolean;
  /** The requester's roles (absent in tasks queued before they were recorded). */
  roles?: string[];
  [key: string]: unknown;
}

/** What a queued legacy `import` task carries: the client's input plus these two, filled in. */
export interface LegacyImportTaskInput {
  /** The filtered source URL. */
  import_from: string;
  /** The image the task created. */
  image_id: string;
  [key: string]: unknown;
}
