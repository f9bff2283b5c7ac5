/**
 * The validated, frozen configuration the rest of glint sees. Built by src/config/load.ts from
 * glance-api.conf-style INI plus GLINT_<SECTION>_<KEY> environment overrides.
 */
export interface GlintConfig {
  /** File the configuration came from, if any (for messages). */
  source: string | null;
  server: ServerConfig;
  database: DatabaseConfig;
  stores: StoresConfig;
  auth: AuthConfig;
  policy: PolicyConfig;
  images: ImagePolicyConfig;
  limits: LimitsConfig;
  imports: ImportConfig;
  recovery: RecoveryConfig;
  algoPlatform: AlgoPlatformConfig;
  edgeGallery: EdgeGalleryConfig;
  imageOps: ImageOpsConfig;
}

export interface ServerConfig {
  bindHost: string;
  bindPort: number;
  /** Base URL used in version links instead of the request's host (Glance `public_endpoint`). */
  publicEndpoint: string | null;
  /** Seconds to wait for in-flight requests on SIGTERM. */
  shutdownTimeout: number;
  /** Worker processes (Glance `workers`); 0 serves in the main process. */
  workers: number;
  /** `[glint] log_level`: least severe event written (application and request logs). */
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** `[glint] log_format`: json (one object per line) or pretty (human-readable, for a terminal). */
  logFormat: 'json' | 'pretty';
}

export type DatabaseConfig =
  | { client: 'sqlite'; filename: string; url: string }
  | { client: 'mysql'; host: string; port: number; user: string; password: string; database: string; url: string };

export interface StoresConfig {
  /** True when `enabled_backends` is set: Glance's multi-store mode. */
  multiStore: boolean;
  defaultStoreId: string;
  stores: StoreConfig[];
}

export type StoreConfig = FilesystemStoreConfig | S3StoreConfig;

export interface FilesystemStoreConfig {
  id: string;
  type: 'file';
  description: string | null;
  /** Directory holding the objects (Glance `filesystem_store_datadir`). */
  dataDir: string;
  /** Read buffer size for downloads (Glance `filesystem_store_chunk_size`). */
  chunkSize: number;
}

export interface S3StoreConfig {
  id: string;
  type: 's3';
  description: string | null;
  /** Endpoint URL (Glance `s3_store_host`), e.g. http://127.0.0.1:9000. */
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Create the bucket on first write when it does not exist (`s3_store_create_bucket_on_put`). */
  createBucketOnPut: boolean;
  /** Path-style addressing (`s3_store_bucket_url_format = path`); virtual-hosted otherwise. */
  forcePathStyle: boolean;
  /** Objects above this size are uploaded in parts (`s3_store_large_object_size`, bytes). */
  largeObjectSize: number;
  /** Part size for multipart uploads (`s3_store_large_object_chunk_size`, bytes, ≥ 5 MiB). */
  partSize: number;
  /** Parts uploaded concurrently (`s3_store_thread_pools`). */
  concurrency: number;
  /**
   * `when_required` for endpoints that do not implement the newer flexible checksums
   * (s3rver, older Ceph RGW/MinIO); `when_supported` is the AWS SDK default.
   */
  checksumMode: 'when_required' | 'when_supported';
}

export type AuthFlavor = 'none' | 'trusted-auth' | 'keystone';

export interface AuthConfig {
  /** `[paste_deploy] flavor`: empty → none (Glance's unauthenticated context). */
  flavor: AuthFlavor;
  keystone: KeystoneConfig | null;
}

/** `[oslo_policy]`: which authorization rules apply (src/domain/policy). */
export interface PolicyConfig {
  enforceNewDefaults: boolean;
  enforceScope: boolean;
  /** Absolute path of the policy file (it may not exist: then Glance's defaults apply); null = none. */
  policyFile: string | null;
}

export interface KeystoneConfig {
  wwwAuthenticateUri: string;
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  userDomainName: string;
  projectDomainName: string;
  serviceTokenRolesRequired: boolean;
  /** Seconds a validated token stays cached (keystonemiddleware `token_cache_time`). */
  tokenCacheTime: number;
}

export interface ImagePolicyConfig {
  diskFormats: string[];
  containerFormats: string[];
  showImageDirectUrl: boolean;
  showMultipleLocations: boolean;
  hashingAlgorithm: 'sha512';
  /** `[image_format] require_image_format_match`: refuse data that is not its declared disk_format. */
  requireImageFormatMatch: boolean;
  /** `[image_format] vmdk_allowed_types`: VMDK createType values accepted. */
  vmdkAllowedTypes: string[];
  /** `[image_format] gpt_safety_checks_nonfatal`: GPT safety checks that only warn. */
  gptSafetyChecksNonfatal: string[];
}

export interface LimitsConfig {
  /** Bytes. */
  imageSizeCap: number;
  /** Bytes; 0 = unlimited. */
  userStorageQuota: number;
  /** Negative = unlimited for the four counts below. */
  imageMemberQuota: number;
  imagePropertyQuota: number;
  imageTagQuota: number;
  imageLocationQuota: number;
  limitParamDefault: number;
  apiLimitMax: number;
}

/** `[glint]` keys of crash recovery: write leases and the reconciler. */
export interface RecoveryConfig {
  /** How long a reserved write holds its lease without renewal (ms; `write_lease_time`). */
  writeLeaseMs: number;
  /** Between reconciler runs (ms; `reconcile_interval`). */
  reconcileIntervalMs: number;
  /** Age before unreferenced objects and idle temporaries are deleted (ms; `orphan_grace_period`). */
  orphanGraceMs: number;
  /** How long a claimed background job holds its lease without renewal (ms; `job_lease_time`). */
  jobLeaseMs: number;
}

export interface ImportConfig {
  enabledMethods: Array<'glance-direct' | 'web-download' | 'copy-image'>;
  /** web-download URI filter (`[import_filtering_opts]`). */
  allowedSchemes: string[];
  disallowedSchemes: string[];
  allowedHosts: string[];
  disallowedHosts: string[];
  allowedPorts: number[];
  disallowedPorts: number[];
  /** Hours a finished task stays visible (`[task] task_time_to_live`). */
  taskTimeToLive: number;
  /** `[image_import_opts] image_import_plugins`, in the order they run. */
  plugins: ImportPluginName[];
  /** `[image_conversion] output_format`. */
  conversionOutputFormat: 'qcow2' | 'raw' | 'vmdk';
  /** `[inject_metadata_properties] ignore_user_roles` (lower case). */
  injectIgnoreUserRoles: string[];
  /** `[inject_metadata_properties] inject`. */
  injectProperties: Record<string, string>;
  /** `[DEFAULT] do_secure_hash`: hash the data of a location added by the locations API. */
  doSecureHash: boolean;
  /** `[DEFAULT] http_retries`: attempts at that hashing. */
  httpRetries: number;
}

export type ImportPluginName = 'image_conversion' | 'inject_image_metadata' | 'no_op';

export interface EdgeGalleryConfig {
  /** EdgeGallery `priority` → store id (`[edgegallery] priority_stores`); unmapped ones use the default store (A and B are refused). */
  priorityStores: Readonly<Record<string, string>>;
  /** Most entries an uploaded .zip may hold (`zip_max_entries`). */
  zipMaxEntries: number;
  /** Most bytes a .zip's entries may expand to in total (`zip_max_expanded_size`). */
  zipMaxExpandedSize: number;
  /** Idle time after which a chunked upload is abandoned and swept (ms; `chunk_upload_expiry`). */
  chunkUploadExpiryMs: number;
}

export interface AlgoPlatformConfig {
  /** Bytes of the largest `_upload` file (`[algoplatform] upload_size_cap`). */
  uploadSizeCap: number;
}

/** `[imageops]`: the check and compress jobs. */
export interface ImageOpsConfig {
  /** Longest a check or compress job may run (ms; `job_timeout`). */
  jobTimeoutMs: number;
  /** Jobs at once per process (`max_concurrent_jobs`). */
  maxConcurrentJobs: number;
  /** Absolute directory for compress outputs and S3 copies (`temp_dir`). */
  tempDir: string;
  /** Percent of the temp filesystem left free after a compress's virtual size (`min_free_space_percent`). */
  minFreeSpacePercent: number;
  /** `qemu_img`: the program run for info, check and convert. */
  qemuImg: string;
  /** Bytes per second for qemu-img convert; 0 = unlimited (`convert_rate_limit`). */
  convertRateLimit: number;
}
