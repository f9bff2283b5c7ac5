/**
 * The domain's error catalog. Every failure the service reports carries a stable `code`; each code
 * belongs to one `kind`, and only the HTTP layer (src/http/errors.ts) turns kinds into statuses.
 * Nothing here knows about HTTP.
 */
export type ErrorKind =
  | 'invalid' // the request is malformed or violates a rule about its values
  | 'forbidden' // the caller may see the target but may not do this
  | 'not_found'
  | 'conflict' // the target's current state does not allow this
  | 'gone' // the target disappeared while the operation ran
  | 'too_large' // a size cap or quota would be exceeded
  | 'unsupported_media_type'
  | 'range_not_satisfiable'
  | 'unauthenticated'
  | 'unavailable' // a dependency (store, identity service) cannot be reached
  | 'client_closed' // the client went away; nobody is left to answer
  | 'method_not_allowed'
  | 'not_implemented'
  | 'internal';

export const errorCatalog = {
  // generic request problems
  BAD_REQUEST: 'invalid',
  BAD_JSON: 'invalid',
  BAD_QUERY: 'invalid',
  BODY_NOT_ALLOWED: 'invalid',
  REQUEST_BODY_TOO_LARGE: 'too_large',
  METHOD_NOT_ALLOWED: 'method_not_allowed',
  NOT_IMPLEMENTED: 'not_implemented',
  ROUTE_NOT_FOUND: 'not_found',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  // images
  IMAGE_NOT_FOUND: 'not_found',
  IMAGE_ID_IN_USE: 'conflict',
  IMAGE_PROTECTED: 'forbidden',
  IMAGE_INVALID_STATUS: 'conflict',
  IMAGE_ACTION_NOT_ALLOWED: 'forbidden',
  IMAGE_FORMATS_MISSING: 'invalid',
  IMAGE_GONE: 'gone',
  IMAGE_UPLOAD_RACE_LOST: 'gone',
  IMAGE_DATA_NOT_FOUND: 'not_found',
  IMAGE_UPDATE_CONFLICT: 'conflict',
  ATTRIBUTE_READ_ONLY: 'forbidden',
  ATTRIBUTE_RESERVED: 'forbidden',
  PROPERTY_NOT_FOUND: 'conflict',
  PROPERTY_EXISTS: 'conflict',
  FORMAT_CHANGE_NOT_ALLOWED: 'forbidden',
  LOCATIONS_NOT_ALLOWED: 'forbidden',
  /** More locations than `image_location_quota`. */
  LOCATION_QUOTA_EXCEEDED: 'too_large',
  // authorization
  NOT_AUTHORIZED: 'forbidden',
  ADMIN_REQUIRED: 'forbidden',
  READ_ONLY_CONTEXT: 'forbidden',
  UNAUTHENTICATED: 'unauthenticated',
  IDENTITY_UNAVAILABLE: 'unavailable',
  // quotas and caps
  IMAGE_SIZE_CAP_EXCEEDED: 'too_large',
  STORAGE_QUOTA_EXCEEDED: 'too_large',
  TAG_QUOTA_EXCEEDED: 'too_large',
  PROPERTY_QUOTA_EXCEEDED: 'too_large',
  MEMBER_QUOTA_EXCEEDED: 'too_large',
  STORAGE_FULL: 'too_large',
  // tags and members
  TAG_NOT_FOUND: 'not_found',
  MEMBER_NOT_FOUND: 'not_found',
  MEMBER_EXISTS: 'conflict',
  MEMBERS_NOT_SHARED: 'forbidden',
  // data
  RANGE_NOT_SATISFIABLE: 'range_not_satisfiable',
  MULTIPLE_RANGES: 'invalid',
  SIZE_MISMATCH: 'invalid',
  UPLOAD_ABORTED: 'client_closed',
  /** The data failed format inspection: unsafe for qemu, or not its declared disk_format. */
  IMAGE_DATA_INVALID: 'invalid',
  // stores
  STORE_UNKNOWN: 'invalid',
  STORE_UNKNOWN_FOR_IMPORT: 'conflict',
  STORE_NOT_ENABLED: 'not_found',
  STORE_LAST_LOCATION: 'forbidden',
  STORE_UNAVAILABLE: 'unavailable',
  /** The database behind the catalog cannot be reached. */
  CATALOG_UNAVAILABLE: 'unavailable',
  STORE_WRITE_DENIED: 'unavailable',
  // import and tasks
  IMPORT_METHOD_INVALID: 'invalid',
  IMPORT_NOT_ENABLED: 'not_found',
  IMPORT_LOCKED: 'conflict',
  IMPORT_URI_REJECTED: 'invalid',
  TASK_NOT_FOUND: 'not_found',
  // container images (the iSulad-compatible image-store library)
  CONTAINER_IMAGE_NOT_FOUND: 'not_found',
  CONTAINER_IMAGE_NAME_IN_USE: 'conflict',
  CONTAINER_IMAGE_REFERENCE_AMBIGUOUS: 'conflict',
  CONTAINER_IMAGE_INVALID: 'invalid',
  CONTAINER_STORE_READ_ONLY: 'forbidden',
  // algorithm registry (src/domain/algorithms): the field rules in the order they are checked, then the record rules
  ALGORITHM_NAME_INVALID: 'invalid',
  ALGORITHM_TAG_INVALID: 'invalid',
  ALGORITHM_DESCRIPTION_INVALID: 'invalid',
  ALGORITHM_PORTS_INVALID: 'invalid',
  ALGORITHM_MOUNTS_INVALID: 'invalid',
  ALGORITHM_CONFIG_INVALID: 'invalid',
  ALGORITHM_SUB_PATHS_INVALID: 'invalid',
  ALGORITHM_HOST_PATHS_INVALID: 'invalid',
  ALGORITHM_WORKING_DIR_INVALID: 'invalid',
  ALGORITHM_TYPE_INVALID: 'invalid',
  ALGORITHM_ENV_INVALID: 'invalid',
  ALGORITHM_PVC_SIZE_INVALID: 'invalid',
  ALGORITHM_FRAME_INTERVAL_MISSING: 'invalid',
  ALGORITHM_FRAME_NUMBER_MISSING: 'invalid',
  ALGORITHM_DEPENDENCIES_INVALID: 'invalid',
  ALGORITHM_EXISTS: 'conflict',
  ALGORITHM_NOT_FOUND: 'not_found',
  ALGORITHM_RENAME_NOT_ALLOWED: 'forbidden',
  ALGORITHM_DEPENDED_ON: 'conflict',
  ALGORITHM_NAMESPACE_FORBIDDEN: 'forbidden',
  ALGORITHM_DEPENDENCY_NOT_FOUND: 'invalid',
  ALGORITHM_EVENT_TYPE_IN_USE: 'conflict',
  ALGORITHM_INSERT_FAILED: 'internal',
  ALGORITHM_UPDATE_FAILED: 'internal',
  ALGORITHM_DELETE_FAILED: 'internal',
  // chunked uploads (src/domain/file-management/chunked-uploads.ts)
  /** An upload identifier or part name that could name a path, or is not `<n>.part`. */
  CHUNKED_UPLOAD_NAME_INVALID: 'invalid',
  CHUNKED_UPLOAD_NOT_FOUND: 'not_found',
  /** A merge owns the upload: no chunk, cancel or second merge meanwhile. */
  CHUNKED_UPLOAD_BUSY: 'conflict',
  /** The parts are not 1.part … N.part without a gap. */
  CHUNKED_UPLOAD_INCOMPLETE: 'invalid',
  // EdgeGallery file management (src/domain/file-management): the messages are upstream's own texts
  /** No `file` part (or no file in it). */
  FILE_UPLOAD_MISSING: 'invalid',
  /** The file name's extension is not .zip/.qcow2/.img/.iso (case-sensitive), or it is over 128 bytes. */
  FILE_NAME_INVALID: 'invalid',
  /** The file is 500 GiB or more. */
  FILE_TOO_LARGE: 'invalid',
  /** A priority that maps to no usable store (A and B unless configured). */
  FILE_PRIORITY_REFUSED: 'invalid',
  /** Not a readable zip, or a zip with no file entry. */
  FILE_ZIP_INVALID: 'invalid',
  /** A zip entry that is absolute, climbs out with `..`, uses backslashes, is a link or is encrypted. */
  FILE_ZIP_ENTRY_UNSAFE: 'invalid',
  /** More zip entries, or more expanded bytes, than `[edgegallery]` allows. */
  FILE_ZIP_TOO_LARGE: 'too_large',
  FILE_NOT_FOUND: 'not_found',
  /** The image's check found a type slimming does not support. */
  FILE_SLIM_UNSUPPORTED: 'invalid',
  /** imageops refused to start the compress. */
  FILE_SLIM_FAILED: 'internal',
  // metadata definitions (src/domain/metadefs): Glance's metadef exceptions
  METADEF_NOT_FOUND: 'not_found',
  METADEF_EXISTS: 'conflict',
  METADEF_PROTECTED: 'forbidden',
  METADEF_INVALID: 'invalid',
  // imageops (check, compress): client mistakes are 400 (decision 1), unknown images included
  IMAGEOPS_FIELD_MISSING: 'invalid',
  IMAGEOPS_NAME_INVALID: 'invalid',
  IMAGEOPS_IMAGE_NOT_FOUND: 'invalid',
  // catch-all
  INTERNAL: 'internal',
} as const satisfies Record<string, ErrorKind>;

export type ErrorCode = keyof typeof errorCatalog;

export class GlintError extends Error {
  readonly kind: ErrorKind;

  /**
   * @param code    stable machine code from `errorCatalog`
   * @param message the explanation shown to clients for 4xx kinds
   * @param detail  an optional second sentence (Glance prints it after the explanation)
   */
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GlintError';
    this.kind = errorCatalog[code];
  }
}

export function fail(code: ErrorCode, message: string, detail?: string): never {
  throw new GlintError(code, message, detail);
}

export function isGlintError(err: unknown, code?: ErrorCode): err is GlintError {
  return err instanceof GlintError && (code === undefined || err.code === code);
}
