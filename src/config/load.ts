import { readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import * as ini from 'ini';
import { parseDatabaseUrl } from './database-url';
import { SECTIONS, STORE_SECTIONS } from './schema';
import { ConfigError, SectionReader, type RawSections } from './section-reader';
import type { AuthFlavor, DatabaseConfig, GlintConfig, ImportConfig, ImportPluginName, ServerConfig, StoreConfig } from './types';

export { ConfigError, parseValue } from './section-reader';

export interface LoadOptions {
  /** INI file; none = defaults and environment only. */
  file?: string | null;
  env?: NodeJS.ProcessEnv;
  /** Relative paths (SQLite file, store directories) resolve against this; default: cwd. */
  baseDir?: string;
  warn?: (message: string) => void;
}


/** Finds the config path from `--config-file PATH` / `--config-file=PATH` or GLINT_CONFIG. */
export function configPathFromArgs(argv: readonly string[], env: NodeJS.ProcessEnv): string | null {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config-file') {
      const value = argv[i + 1];
      if (!value) throw new ConfigError('--config-file needs a path');
      return value;
    }
    if (argv[i].startsWith('--config-file=')) return argv[i].slice('--config-file='.length);
  }
  return env.GLINT_CONFIG || null;
}

/** defaults ← file ← GLINT_<SECTION>_<KEY> environment; validated and frozen. */
export function loadConfig(options: LoadOptions = {}): GlintConfig {
  const env = options.env ?? process.env;
  const warn = options.warn ?? ((message: string) => process.stderr.write(`glint: warning: ${message}\n`));
  const baseDir = options.baseDir ?? process.cwd();
  const file = options.file ?? null;
  const where = file ?? 'the environment';
  const raw = file ? readIni(file) : {};

  const reader = new SectionReader(raw, env, where);
  const enabledBackends = reader.list('DEFAULT', SECTIONS.DEFAULT, 'enabled_backends');
  const multiStore = enabledBackends.length > 0;
  const stores = multiStore ? readNamedStores(reader, enabledBackends, baseDir) : [readSingleStore(reader, baseDir)];
  let defaultStoreId = stores[0].id;
  if (multiStore) {
    defaultStoreId = reader.value('glance_store', SECTIONS.glance_store, 'default_backend') as string;
    if (!defaultStoreId) throw new ConfigError(`${where}: [glance_store] default_backend is required when enabled_backends is set`);
    if (!stores.some((s) => s.id === defaultStoreId)) {
      throw new ConfigError(`${where}: [glance_store] default_backend "${defaultStoreId}" is not one of enabled_backends`);
    }
  }

  const d = (key: string) => reader.value('DEFAULT', SECTIONS.DEFAULT, key);
  const connection = reader.value('database', SECTIONS.database, 'connection') as string;
  let database;
  try {
    database = parseDatabaseUrl(connection);
    if (database.client === 'sqlite' && database.filename !== ':memory:') {
      database = { ...database, filename: path.resolve(baseDir, database.filename) };
    }
  } catch (err) {
    throw new ConfigError(`${where}: [database] connection: ${(err as Error).message}`);
  }

  const flavor = (reader.value('paste_deploy', SECTIONS.paste_deploy, 'flavor') as string) || 'none';
  const k = (key: string) => reader.value('keystone_authtoken', SECTIONS.keystone_authtoken, key);
  const keystone =
    flavor === 'keystone'
      ? {
          wwwAuthenticateUri: (k('www_authenticate_uri') as string) || (k('auth_url') as string),
          authUrl: k('auth_url') as string,
          username: k('username') as string,
          password: k('password') as string,
          projectName: k('project_name') as string,
          userDomainName: k('user_domain_name') as string,
          projectDomainName: k('project_domain_name') as string,
          serviceTokenRolesRequired: k('service_token_roles_required') as boolean,
          tokenCacheTime: k('token_cache_time') as number,
        }
      : null;
  if (keystone && !keystone.authUrl) throw new ConfigError(`${where}: [keystone_authtoken] auth_url is required with flavor = keystone`);

  const methods = d('enabled_import_methods') as string[];
  for (const m of methods) {
    if (!['glance-direct', 'web-download', 'copy-image'].includes(m)) {
      throw new ConfigError(`${where}: [DEFAULT] enabled_import_methods: unknown method "${m}"`);
    }
  }
  const f = (key: string) => reader.value('import_filtering_opts', SECTIONS.import_filtering_opts, key) as string[];
  const ports = (key: string) =>
    f(key).map((p) => {
      const n = Number(p);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(`${where}: [import_filtering_opts] ${key}: "${p}" is not a port`);
      return n;
    });

  const config: GlintConfig = {
    source: file,
    server: {
      bindHost: d('bind_host') as string,
      bindPort: d('bind_port') as number,
      publicEndpoint: (d('public_endpoint') as string) || null,
      shutdownTimeout: reader.value('glint', SECTIONS.glint, 'shutdown_timeout') as number,
      workers: workerCount(d('workers') as string, database, where),
      logLevel: reader.value('glint', SECTIONS.glint, 'log_level') as ServerConfig['logLevel'],
      logFormat: reader.value('glint', SECTIONS.glint, 'log_format') as ServerConfig['logFormat'],
    },
    database,
    stores: { multiStore, defaultStoreId, stores },
    auth: { flavor: flavor as AuthFlavor, keystone },
    policy: {
      enforceNewDefaults: reader.value('oslo_policy', SECTIONS.oslo_policy, 'enforce_new_defaults') as boolean,
      enforceScope: reader.value('oslo_policy', SECTIONS.oslo_policy, 'enforce_scope') as boolean,
      // as oslo.config's find_file: relative to the configuration file's folder
      policyFile: policyFilePath(reader.value('oslo_policy', SECTIONS.oslo_policy, 'policy_file') as string, file, baseDir),
    },
    images: {
      diskFormats: reader.value('image_format', SECTIONS.image_format, 'disk_formats') as string[],
      containerFormats: reader.value('image_format', SECTIONS.image_format, 'container_formats') as string[],
      showImageDirectUrl: d('show_image_direct_url') as boolean,
      showMultipleLocations: d('show_multiple_locations') as boolean,
      hashingAlgorithm: 'sha512',
      requireImageFormatMatch: reader.value('image_format', SECTIONS.image_format, 'require_image_format_match') as boolean,
      vmdkAllowedTypes: reader.value('image_format', SECTIONS.image_format, 'vmdk_allowed_types') as string[],
      gptSafetyChecksNonfatal: reader.value('image_format', SECTIONS.image_format, 'gpt_safety_checks_nonfatal') as string[],
    },
    limits: {
      imageSizeCap: d('image_size_cap') as number,
      userStorageQuota: d('user_storage_quota') as number,
      imageMemberQuota: d('image_member_quota') as number,
      imagePropertyQuota: d('image_property_quota') as number,
      imageTagQuota: d('image_tag_quota') as number,
      imageLocationQuota: d('image_location_quota') as number,
      limitParamDefault: d('limit_param_default') as number,
      apiLimitMax: d('api_limit_max') as number,
    },
    imports: {
      enabledMethods: methods as GlintConfig['imports']['enabledMethods'],
      allowedSchemes: f('allowed_schemes'),
      disallowedSchemes: f('disallowed_schemes'),
      allowedHosts: f('allowed_hosts'),
      disallowedHosts: f('disallowed_hosts'),
      allowedPorts: ports('allowed_ports'),
      disallowedPorts: ports('disallowed_ports'),
      taskTimeToLive: reader.value('task', SECTIONS.task, 'task_time_to_live') as number,
      ...importPlugins(reader),
      doSecureHash: d('do_secure_hash') as boolean,
      httpRetries: d('http_retries') as number,
    },
    recovery: {
      writeLeaseMs: (reader.value('glint', SECTIONS.glint, 'write_lease_time') as number) * 1000,
      reconcileIntervalMs: (reader.value('glint', SECTIONS.glint, 'reconcile_interval') as number) * 1000,
      orphanGraceMs: (reader.value('glint', SECTIONS.glint, 'orphan_grace_period') as number) * 1000,
      jobLeaseMs: (reader.value('glint', SECTIONS.glint, 'job_lease_time') as number) * 1000,
    },
    algoPlatform: {
      uploadSizeCap: reader.value('algoplatform', SECTIONS.algoplatform, 'upload_size_cap') as number,
    },
    edgeGallery: {
      priorityStores: priorityStores(reader, stores),
      zipMaxEntries: reader.value('edgegallery', SECTIONS.edgegallery, 'zip_max_entries') as number,
      zipMaxExpandedSize: reader.value('edgegallery', SECTIONS.edgegallery, 'zip_max_expanded_size') as number,
      chunkUploadExpiryMs: (reader.value('edgegallery', SECTIONS.edgegallery, 'chunk_upload_expiry') as number) * 1000,
    },
    imageOps: {
      jobTimeoutMs: (reader.value('imageops', SECTIONS.imageops, 'job_timeout') as number) * 1000,
      maxConcurrentJobs: reader.value('imageops', SECTIONS.imageops, 'max_concurrent_jobs') as number,
      tempDir: path.resolve(baseDir, (reader.value('imageops', SECTIONS.imageops, 'temp_dir') as string) || path.join(tmpdir(), 'glint-imageops')),
      minFreeSpacePercent: reader.value('imageops', SECTIONS.imageops, 'min_free_space_percent') as number,
      qemuImg: reader.value('imageops', SECTIONS.imageops, 'qemu_img') as string,
      convertRateLimit: reader.value('imageops', SECTIONS.imageops, 'convert_rate_limit') as number,
    },
  };

  for (const message of reader.unknownKeys()) warn(message);
  return deepFreeze(config);
}

/** `[oslo_policy] policy_file` made absolute (relative to the config file's folder, as oslo.config finds it); null when empty. */
function policyFilePath(value: string, configFile: string | null, baseDir: string): string | null {
  if (!value) return null;
  return path.resolve(configFile ? path.dirname(path.resolve(configFile)) : baseDir, value);
}

/** `[edgegallery] priority_stores`: priority:store pairs naming configured stores. */
function priorityStores(reader: SectionReader, stores: readonly StoreConfig[]): Record<string, string> {
  const mapping: Record<string, string> = {};
  for (const pair of reader.list('edgegallery', SECTIONS.edgegallery, 'priority_stores')) {
    const at = pair.lastIndexOf(':');
    const priority = pair.slice(0, at).trim();
    const storeId = pair.slice(at + 1).trim();
    if (at < 0 || !storeId) throw new ConfigError(`${reader.where}: [edgegallery] priority_stores: "${pair}" is not priority:store`);
    if (!stores.some((store) => store.id === storeId)) throw new ConfigError(`${reader.where}: [edgegallery] priority_stores: store "${storeId}" is not configured`);
    mapping[priority] = storeId;
  }
  return mapping;
}

/** `[image_import_opts]`, `[image_conversion]` and `[inject_metadata_properties]`. */
function importPlugins(reader: SectionReader): Pick<ImportConfig, 'plugins' | 'conversionOutputFormat' | 'injectIgnoreUserRoles' | 'injectProperties'> {
  const known: readonly ImportPluginName[] = ['image_conversion', 'inject_image_metadata', 'no_op'];
  const plugins = reader.value('image_import_opts', SECTIONS.image_import_opts, 'image_import_plugins') as string[];
  for (const name of plugins) {
    if (!(known as readonly string[]).includes(name)) {
      throw new ConfigError(`${reader.where}: [image_import_opts] image_import_plugins: unknown plugin "${name}" (known: ${known.join(', ')})`);
    }
  }
  const injectProperties: Record<string, string> = {};
  for (const pair of reader.value('inject_metadata_properties', SECTIONS.inject_metadata_properties, 'inject') as string[]) {
    const at = pair.indexOf(':');
    const key = at < 0 ? '' : pair.slice(0, at).trim();
    if (!key || key.length > 255) throw new ConfigError(`${reader.where}: [inject_metadata_properties] inject: "${pair}" is not key:value`);
    injectProperties[key] = pair.slice(at + 1).trim();
  }
  return {
    plugins: plugins as ImportPluginName[],
    conversionOutputFormat: reader.value('image_conversion', SECTIONS.image_conversion, 'output_format') as ImportConfig['conversionOutputFormat'],
    injectIgnoreUserRoles: (reader.value('inject_metadata_properties', SECTIONS.inject_metadata_properties, 'ignore_user_roles') as string[]).map((r) => r.toLowerCase()),
    injectProperties,
  };
}

function readIni(file: string): RawSections {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  const parsed = ini.parse(text) as Record<string, unknown>;
  const sections: RawSections = { DEFAULT: {} };
  for (const [name, value] of Object.entries(parsed)) {
    if (value !== null && typeof value === 'object') {
      const section: Record<string, string> = (sections[name] ??= {});
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        if (v !== null && typeof v === 'object') throw new ConfigError(`${file}: [${name}] ${key}: nested sections are not supported`);
        section[key] = String(v);
      }
    } else {
      // Keys before the first header belong to [DEFAULT], as in oslo.config.
      sections.DEFAULT[name] = String(value);
    }
  }
  return sections;
}

function readNamedStores(reader: SectionReader, pairs: string[], baseDir: string): StoreConfig[] {
  const seen = new Set<string>();
  return pairs.map((pair) => {
    const [id, type, ...rest] = pair.split(':').map((s) => s.trim());
    if (!id || !type || rest.length > 0) throw new ConfigError(`${reader.where}: [DEFAULT] enabled_backends: "${pair}" is not id:type`);
    if (id.startsWith('os_glance_')) throw new ConfigError(`${reader.where}: [DEFAULT] enabled_backends: store id "${id}" is reserved`);
    if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new ConfigError(`${reader.where}: [DEFAULT] enabled_backends: bad store id "${id}"`);
    if (seen.has(id)) throw new ConfigError(`${reader.where}: [DEFAULT] enabled_backends: store id "${id}" appears twice`);
    seen.add(id);
    if (type !== 'file' && type !== 's3') {
      throw new ConfigError(`${reader.where}: [DEFAULT] enabled_backends: store "${id}" has unsupported type "${type}" (file, s3)`);
    }
    return readStoreSection(reader, id, id, type, baseDir);
  });
}

function readSingleStore(reader: SectionReader, baseDir: string): StoreConfig {
  const type = reader.value('glance_store', SECTIONS.glance_store, 'default_store') as 'file' | 's3';
  return readStoreSection(reader, 'glance_store', type, type, baseDir);
}

function readStoreSection(reader: SectionReader, section: string, id: string, type: 'file' | 's3', baseDir: string): StoreConfig {
  const specs = STORE_SECTIONS[type];
  const v = (key: string) => reader.value(section, specs, key);
  const description = (v('description') as string) || null;
  if (type === 'file') {
    return {
      id,
      type,
      description,
      dataDir: path.resolve(baseDir, v('filesystem_store_datadir') as string),
      chunkSize: v('filesystem_store_chunk_size') as number,
    };
  }
  const endpoint = v('s3_store_host') as string;
  if (!endpoint) throw new ConfigError(`${reader.where}: [${section}] s3_store_host is required for an s3 store`);
  const url = /^[a-z]+:\/\//i.test(endpoint) ? endpoint : `https://${endpoint}`;
  try {
    new URL(url);
  } catch {
    throw new ConfigError(`${reader.where}: [${section}] s3_store_host: "${endpoint}" is not a URL`);
  }
  const mib = 1024 * 1024;
  return {
    id,
    type,
    description,
    endpoint: url,
    region: v('s3_store_region_name') as string,
    accessKey: v('s3_store_access_key') as string,
    secretKey: v('s3_store_secret_key') as string,
    bucket: v('s3_store_bucket') as string,
    createBucketOnPut: v('s3_store_create_bucket_on_put') as boolean,
    forcePathStyle: v('s3_store_bucket_url_format') !== 'virtual',
    largeObjectSize: (v('s3_store_large_object_size') as number) * mib,
    partSize: (v('s3_store_large_object_chunk_size') as number) * mib,
    concurrency: v('s3_store_thread_pools') as number,
    checksumMode: v('s3_store_checksum_mode') as 'when_required' | 'when_supported',
  };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Glance's default is one worker per CPU, at most 8 (explicit values are not capped). */
const DEFAULT_WORKERS_CAP = 8;

/** Worker processes when `[DEFAULT] workers` is left empty. */
export function defaultWorkerCount(): number {
  return Math.min(availableParallelism(), DEFAULT_WORKERS_CAP);
}

function workerCount(value: string, database: DatabaseConfig, where: string): number {
  const text = value.trim();
  let count: number;
  if (text === '') {
    count = defaultWorkerCount();
  } else if (/^\d+$/.test(text) && Number.isSafeInteger(Number(text))) {
    count = Number(text);
  } else {
    throw new ConfigError(`${where}: [DEFAULT] workers: "${value}" is not an integer ≥ 0`);
  }
  // Each process would get a database of its own.
  if (database.client === 'sqlite' && database.filename === ':memory:') return 0;
  return count;
}
