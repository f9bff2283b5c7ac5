/**
 * Every configuration key glint understands, in glance-api.conf's sections. The loader validates
 * values against these declarations; etc/glint.conf documents the same keys (a test keeps the two
 * in step). Store sections are declared per driver type because their names are the store ids.
 */

export type OptionType =
  | { kind: 'string' }
  | { kind: 'integer'; min?: number; max?: number }
  | { kind: 'boolean' }
  /** Byte quantity with an optional B/KB/MB/GB/TB suffix (binary multiples), as user_storage_quota. */
  | { kind: 'size' }
  | { kind: 'list' }
  | { kind: 'enum'; values: readonly string[] };

export interface OptionSpec {
  key: string;
  type: OptionType;
  /** Raw default as it would be written in the file. */
  default: string;
  help: string;
}

const str = { kind: 'string' } as const;
const bool = { kind: 'boolean' } as const;
const list = { kind: 'list' } as const;
const size = { kind: 'size' } as const;
const int = (min?: number, max?: number): OptionType => ({ kind: 'integer', min, max });

export const SECTIONS: Readonly<Record<string, readonly OptionSpec[]>> = {
  DEFAULT: [
    { key: 'bind_host', type: str, default: '127.0.0.1', help: 'Address to listen on.' },
    { key: 'bind_port', type: int(0, 65535), default: '9292', help: 'Port to listen on.' },
    {
      key: 'workers',
      type: str,
      default: '',
      help: 'Worker processes serving the API on one port; empty = the number of CPUs, at most 8; 0 = serve in the main process.',
    },
    { key: 'public_endpoint', type: str, default: '', help: 'Base URL for version links; the request host when empty.' },
    {
      key: 'enabled_backends',
      type: list,
      default: '',
      help: 'Named stores as id:type pairs (types: file, s3). Setting it turns on multi-store; each id needs a section.',
    },
    { key: 'image_size_cap', type: int(0), default: '1099511627776', help: 'Largest image in bytes.' },
    { key: 'user_storage_quota', type: size, default: '0', help: 'Bytes an owner may store in all (B/KB/MB/GB/TB suffixes); 0 = unlimited.' },
    { key: 'image_member_quota', type: int(), default: '128', help: 'Members per image; negative = unlimited.' },
    { key: 'image_property_quota', type: int(), default: '128', help: 'Custom properties per image; negative = unlimited.' },
    { key: 'image_tag_quota', type: int(), default: '128', help: 'Tags per image; negative = unlimited.' },
    { key: 'image_location_quota', type: int(), default: '10', help: 'Locations per image; negative = unlimited.' },
    { key: 'limit_param_default', type: int(1), default: '25', help: 'Default page size of lists.' },
    { key: 'api_limit_max', type: int(1), default: '1000', help: 'Largest page size of lists.' },
    { key: 'show_image_direct_url', type: bool, default: 'false', help: 'Show direct_url in image documents.' },
    { key: 'show_multiple_locations', type: bool, default: 'false', help: 'Show locations and allow location PATCH operations.' },
    {
      key: 'enabled_import_methods',
      type: list,
      default: 'glance-direct,web-download,copy-image',
      help: 'Interoperable import methods offered.',
    },
    { key: 'hashing_algorithm', type: { kind: 'enum', values: ['sha512'] }, default: 'sha512', help: 'os_hash_algo of uploaded data.' },
    {
      key: 'do_secure_hash',
      type: bool,
      default: 'true',
      help: 'POST /v2/images/{id}/locations reads the data at the new location and sets checksum and os_hash_value (checked against validation_data when given); false: validation_data is taken as given.',
    },
    { key: 'http_retries', type: int(1), default: '3', help: 'Attempts at hashing the data of a location added by POST /v2/images/{id}/locations.' },
  ],
  database: [
    {
      key: 'connection',
      type: str,
      default: 'sqlite:///data/glint.db',
      help: 'Catalog URL: sqlite:///relative/path, sqlite:////absolute/path, mysql+pymysql://user:pass@host/db.',
    },
  ],
  glance_store: [
    { key: 'default_backend', type: str, default: '', help: 'Multi-store: id of the store used when a request names none.' },
    { key: 'default_store', type: { kind: 'enum', values: ['file', 's3'] }, default: 'file', help: 'Single-store: driver type.' },
    { key: 'stores', type: list, default: 'file', help: 'Single-store: accepted for compatibility; default_store decides.' },
  ],
  paste_deploy: [
    {
      key: 'flavor',
      type: { kind: 'enum', values: ['', 'keystone', 'trusted-auth'] },
      default: '',
      help: 'Empty: no authentication (every request is an anonymous admin). keystone: validate X-Auth-Token. trusted-auth: trust X-Roles/X-Project-Id/X-User-Id as sent (only behind a proxy that sets them).',
    },
  ],
  keystone_authtoken: [
    { key: 'www_authenticate_uri', type: str, default: '', help: 'Keystone URL announced in WWW-Authenticate.' },
    { key: 'auth_url', type: str, default: '', help: 'Keystone URL glint authenticates against.' },
    { key: 'auth_type', type: str, default: 'password', help: 'Only password is supported.' },
    { key: 'username', type: str, default: '', help: 'glint service user.' },
    { key: 'password', type: str, default: '', help: 'glint service user password.' },
    { key: 'project_name', type: str, default: '', help: 'Project of the service user.' },
    { key: 'user_domain_name', type: str, default: 'Default', help: 'Domain of the service user.' },
    { key: 'project_domain_name', type: str, default: 'Default', help: 'Domain of the service project.' },
    { key: 'service_token_roles_required', type: bool, default: 'false', help: 'Require service roles on X-Service-Token.' },
    { key: 'token_cache_time', type: int(0), default: '300', help: 'Seconds a validated token is cached.' },
    { key: 'memcached_servers', type: str, default: '', help: 'Ignored: glint caches validations itself.' },
  ],
  oslo_policy: [
    {
      key: 'enforce_new_defaults',
      type: bool,
      default: 'true',
      help: "true: Glance's secure-RBAC rules only (project reader / member / admin, service role). false: each rule OR its legacy default, plus the legacy owner checks.",
    },
    {
      key: 'enforce_scope',
      type: bool,
      default: 'true',
      help: 'Refuse system- and domain-scoped tokens on the project-scoped image rules (current oslo.policy always does).',
    },
    {
      key: 'policy_file',
      type: str,
      default: 'policy.yaml',
      help: "Operator's rules (YAML or JSON) overriding Glance's defaults by name; relative to the config file's folder; a missing file = defaults only. Checked at start-up.",
    },
  ],
  image_format: [
    { key: 'disk_formats', type: list, default: 'ami,ari,aki,vhd,vhdx,vmdk,raw,qcow2,vdi,iso,ploop', help: 'Accepted disk_format values.' },
    { key: 'container_formats', type: list, default: 'ami,ari,aki,bare,ovf,ova,docker,compressed', help: 'Accepted container_format values.' },
    {
      key: 'require_image_format_match',
      type: bool,
      default: 'true',
      help: 'Refuse uploads, stages and imports of bare images whose content is not the declared disk_format (raw accepts anything safe; ami, ari, aki, ploop anything not recognised).',
    },
    {
      key: 'vmdk_allowed_types',
      type: list,
      default: 'streamOptimized,monolithicSparse',
      help: 'VMDK createType values accepted; only single-file types can be allowed (descriptor files name extents outside the image); empty = no VMDK.',
    },
    { key: 'gpt_safety_checks_nonfatal', type: list, default: '', help: 'GPT/MBR safety checks that only warn: mbr.' },
  ],
  import_filtering_opts: [
    { key: 'allowed_schemes', type: list, default: 'http,https', help: 'web-download URI schemes allowed.' },
    { key: 'disallowed_schemes', type: list, default: '', help: 'web-download URI schemes refused.' },
    {
      key: 'allowed_hosts',
      type: list,
      default: '',
      help: 'web-download hosts allowed. Empty (the default) refuses every host: web-download is off until listed.',
    },
    { key: 'disallowed_hosts', type: list, default: '', help: 'web-download hosts refused.' },
    { key: 'allowed_ports', type: list, default: '80,443', help: 'web-download ports allowed.' },
    { key: 'disallowed_ports', type: list, default: '', help: 'web-download ports refused.' },
  ],
  image_import_opts: [
    {
      key: 'image_import_plugins',
      type: list,
      default: '',
      help: 'Plugins run on imported data after it is staged and before it is stored, in order: image_conversion, inject_image_metadata, no_op.',
    },
  ],
  image_conversion: [
    {
      key: 'output_format',
      type: { kind: 'enum', values: ['qcow2', 'raw', 'vmdk'] },
      default: 'raw',
      help: 'Disk format the image_conversion import plugin converts imported data to (qemu-img convert).',
    },
  ],
  inject_metadata_properties: [
    { key: 'ignore_user_roles', type: list, default: 'admin', help: 'inject_image_metadata adds nothing to images imported by a user with one of these roles.' },
    { key: 'inject', type: list, default: '', help: 'Properties the inject_image_metadata import plugin adds, as key:value pairs (k1:v1,k2:v2).' },
  ],
  task: [{ key: 'task_time_to_live', type: int(1), default: '48', help: 'Hours a finished task stays visible.' }],
  glint: [
    { key: 'shutdown_timeout', type: int(0), default: '30', help: 'Seconds to finish in-flight requests on SIGTERM.' },
    {
      key: 'log_level',
      type: { kind: 'enum', values: ['debug', 'info', 'warn', 'error'] },
      default: 'info',
      help: 'Least severe event logged (application log on stderr, request log on stdout).',
    },
    {
      key: 'log_format',
      type: { kind: 'enum', values: ['json', 'pretty'] },
      default: 'json',
      help: 'json: one JSON object per line; pretty: human-readable lines for a terminal.',
    },
    {
      key: 'write_lease_time',
      type: int(1),
      default: '60',
      help: 'Seconds an image data write (upload, stage) holds its lease without renewal; it is renewed every third of it. An image whose write lease expired (its node died) is put back to queued.',
    },
    {
      key: 'job_lease_time',
      type: int(1),
      default: '60',
      help: 'Seconds a node holds a claimed background job (import, imageops) without renewal; it is renewed every third of it. A job whose node died is resumed by another node after this.',
    },
    { key: 'reconcile_interval', type: int(1), default: '60', help: 'Seconds between runs of the reconciler on each node (it also runs at start-up).' },
    {
      key: 'orphan_grace_period',
      type: int(1),
      default: '3600',
      help: 'Seconds before the reconciler deletes a stored object no catalog row references, or an unfinished upload left idle; longer than any upload may pause.',
    },
  ],
  algoplatform: [
    {
      key: 'upload_size_cap',
      type: size,
      default: '32MB',
      help: 'Largest JSON file _upload reads into the algorithm registry (B/KB/MB/GB suffixes); a larger one is refused while it streams in.',
    },
  ],
  edgegallery: [
    {
      key: 'priority_stores',
      type: list,
      default: '',
      help: 'EdgeGallery upload/merge priority → store id, as priority:store pairs (e.g. 1:fast, A:cold). Unmapped priorities (0, empty, anything else) go to the default store, except A and B, which are refused (400 fail to upload package) unless mapped.',
    },
    { key: 'zip_max_entries', type: int(1), default: '1000', help: 'Most entries an uploaded or merged .zip may hold; more is refused (413) before anything is unpacked.' },
    {
      key: 'zip_max_expanded_size',
      type: size,
      default: '1TB',
      help: 'Most bytes the entries of an uploaded or merged .zip may expand to in total (B/KB/MB/GB/TB suffixes); more is refused (413) before anything is unpacked.',
    },
    {
      key: 'chunk_upload_expiry',
      type: int(1),
      default: '86400',
      help: 'Seconds a chunked upload (POST /image-management/v1/images/upload) may stay without a new chunk before it is abandoned: the reconciler of any node then removes its chunks (objects and rows). A merge in progress keeps its upload alive.',
    },
  ],
  imageops: [
    {
      key: 'job_timeout',
      type: int(1),
      default: '3600',
      help: 'Seconds a check or compress job may run (imageops IMAGEOPS_TIMEOUT); then its tool is killed and the job reports its time-out status.',
    },
    {
      key: 'max_concurrent_jobs',
      type: int(1),
      default: '2',
      help: 'Checks and compresses one glint process runs at once (each worker process runs its own); the rest wait queued in the catalog for any node.',
    },
    {
      key: 'temp_dir',
      type: str,
      default: '',
      help: 'Directory for compress outputs and the copies qemu-img reads of images in S3 stores (deleted when the job ends); empty = <system temp>/glint-imageops. Its free space is checked before a compress.',
    },
    {
      key: 'min_free_space_percent',
      type: int(0, 100),
      default: '20',
      help: "Percent of temp_dir's filesystem that must stay free after reserving a compress's virtual size (imageops' 0.2); otherwise the compress is refused.",
    },
    { key: 'qemu_img', type: str, default: 'qemu-img', help: 'The qemu-img program (a name on PATH or a path).' },
    {
      key: 'convert_rate_limit',
      type: size,
      default: '0',
      help: 'Bytes per second a compress may read (qemu-img convert -r; B/KB/MB/GB suffixes); 0 = unlimited.',
    },
  ],
};

/** Keys of a store section, by driver type (the section is named after the store id). */
export const STORE_SECTIONS: Readonly<Record<'file' | 's3', readonly OptionSpec[]>> = {
  file: [
    { key: 'description', type: str, default: '', help: 'Shown by /v2/info/stores.' },
    { key: 'filesystem_store_datadir', type: str, default: 'data/images', help: 'Directory holding image data.' },
    { key: 'filesystem_store_chunk_size', type: int(4096), default: '65536', help: 'Read buffer size in bytes.' },
  ],
  s3: [
    { key: 'description', type: str, default: '', help: 'Shown by /v2/info/stores.' },
    { key: 's3_store_host', type: str, default: '', help: 'S3 endpoint URL, e.g. http://127.0.0.1:9000.' },
    { key: 's3_store_region_name', type: str, default: 'us-east-1', help: 'Region sent in signatures.' },
    { key: 's3_store_access_key', type: str, default: '', help: 'Access key.' },
    { key: 's3_store_secret_key', type: str, default: '', help: 'Secret key.' },
    { key: 's3_store_bucket', type: str, default: 'glance', help: 'Bucket holding image data.' },
    { key: 's3_store_create_bucket_on_put', type: bool, default: 'false', help: 'Create the bucket on first write.' },
    {
      key: 's3_store_bucket_url_format',
      type: { kind: 'enum', values: ['auto', 'path', 'virtual'] },
      default: 'auto',
      help: 'Addressing style; auto = path style.',
    },
    { key: 's3_store_large_object_size', type: int(1), default: '100', help: 'MiB above which uploads use multipart.' },
    { key: 's3_store_large_object_chunk_size', type: int(5), default: '10', help: 'Multipart part size in MiB (S3 minimum 5).' },
    {
      key: 's3_store_thread_pools',
      type: int(1),
      default: '2',
      help: 'Parts of one upload in flight at once (glint default 2, Glance 10): each upload holds up to this + 1 parts of s3_store_large_object_chunk_size in memory.',
    },
    {
      key: 's3_store_checksum_mode',
      type: { kind: 'enum', values: ['when_supported', 'when_required'] },
      default: 'when_supported',
      help: 'glint only: when_required for endpoints without flexible checksums (s3rver, older RGW/MinIO).',
    },
  ],
};

/** GLINT_<SECTION>_<KEY>, upper-cased, anything but letters and digits turned into `_`. */
export function envName(section: string, key: string): string {
  return `GLINT_${section}_${key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
