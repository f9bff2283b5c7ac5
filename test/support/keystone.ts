import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knex from 'knex';

/**
 * A real Keystone (Debian's `keystone` package, served by uwsgi) on loopback, for tests.
 *
 * Everything lives in a fresh temp folder: keystone.conf, an SQLite database, fernet and
 * credential key repositories, logs. Two uwsgi instances share that database and those keys:
 * - the main one (`url`) issues tokens valid for an hour;
 * - the short one (`shortUrl`) issues tokens valid for `shortExpiration` seconds. Any instance
 *   validates any token (fernet), so expiry can be tested without slowing everything else.
 *
 * Set up through keystone-manage (fernet_setup, credential_setup, db_sync, bootstrap) and then
 * the Identity API: a `service` project with the glint service user (admin + service roles),
 * projects projA and projB with users holding admin / member / reader, and the `image` service
 * with endpoints on `imageUrl` (a free port reserved for a glint server).
 *
 * Needs the packages of .ci/install-keystone.sh; fails (never skips) without them.
 */
export interface KeystoneUser {
  name: string;
  password: string;
  id: string;
  projectName: string;
  projectId: string;
}

export type UserKey = 'glint' | 'adminA' | 'memberA' | 'readerA' | 'memberB' | 'adminB';

export interface TestKeystone {
  /** `http://127.0.0.1:<port>` of the main instance (no /v3). */
  url: string;
  /** `url` + `/v3`. */
  authUrl: string;
  /** Second instance: same database and keys, short token lifetime. */
  shortUrl: string;
  shortExpiration: number;
  /** Port (free when reserved) that the catalog lists for the `image` service. */
  imagePort: number;
  imageUrl: string;
  dir: string;
  admin: { name: string; password: string; projectName: string };
  projects: { service: string; projA: string; projB: string };
  users: Record<UserKey, KeystoneUser>;
  /** Milliseconds from the call to startKeystone until everything was set up. */
  startupMs: number;
  /** A fresh project-scoped token for a user, issued by `url` (default) or another instance. */
  token(user: UserKey | KeystoneUser, options?: { url?: string }): Promise<string>;
  /** Revokes a token (DELETE /v3/auth/tokens). */
  revoke(token: string): Promise<void>;
  /** Admin token on the main instance. */
  adminToken(): Promise<string>;
  /** The last lines of both instances' logs. */
  logs(): string;
  /** Stops both instances and removes the temp folder. */
  stop(): Promise<void>;
}

/** Options of the glint config's `[keystone_authtoken]` section written by `authtokenIni`. */
export interface AuthtokenIniOptions {
  authUrl?: string;
  cacheTime?: number;
  rolesRequired?: boolean;
  password?: string;
  /** Appended verbatim after the section (more INI lines or sections). */
  extra?: string;
}

/**
 * The `[paste_deploy] flavor = keystone` and `[keystone_authtoken]` INI text that makes a glint
 * validate tokens against this Keystone as the glint service user.
 */
export function authtokenIni(ks: TestKeystone, o: AuthtokenIniOptions = {}): string {
  return [
    '[paste_deploy]',
    'flavor = keystone',
    '[keystone_authtoken]',
    `www_authenticate_uri = ${ks.authUrl}`,
    `auth_url = ${o.authUrl ?? ks.url}`,
    `username = ${ks.users.glint.name}`,
    `password = ${o.password ?? ks.users.glint.password}`,
    'project_name = service',
    'user_domain_name = Default',
    'project_domain_name = Default',
    `service_token_roles_required = ${o.rolesRequired ? 'true' : 'false'}`,
    `token_cache_time = ${o.cacheTime ?? 300}`,
    'memcached_servers = 127.0.0.1:11211',
    o.extra ?? '',
    '',
  ].join('\n');
}

const KEYSTONE_MANAGE = '/usr/bin/keystone-manage';
const KEYSTONE_WSGI = '/usr/bin/keystone-wsgi-public';
const UWSGI = '/usr/bin/uwsgi';
const PYTHON3_PLUGIN = '/usr/lib/uwsgi/plugins/python3_plugin.so';

/** Child processes still running, killed if the test process exits without stop(). */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startKeystone(options: { shortExpiration?: number } = {}): Promise<TestKeystone> {
  const started = Date.now();
  let last = started;
  const phase = (name: string) => {
    if (process.env.GLINT_TEST_KEYSTONE_TIMING) process.stderr.write(`keystone harness: ${name} ${Date.now() - last} ms\n`);
    last = Date.now();
  };
  for (const file of [KEYSTONE_MANAGE, KEYSTONE_WSGI, UWSGI, PYTHON3_PLUGIN]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run .ci/install-keystone.sh (installs keystone, uwsgi-plugin-python3)`);
  }
  const shortExpiration = options.shortExpiration ?? 6;
  const dir = await mkdtemp(join(tmpdir(), 'glint-keystone-'));
  const [port, shortPort, imagePort] = await freePorts(3);
  const url = `http://127.0.0.1:${port}`;
  const shortUrl = `http://127.0.0.1:${shortPort}`;
  const imageUrl = `http://127.0.0.1:${imagePort}`;
  const adminPassword = `admin-${Math.random().toString(36).slice(2)}`;
  const instances: Instance[] = [];

  const conf = join(dir, 'keystone.conf');
  const shortConf = join(dir, 'keystone-short.conf');
  await writeFile(conf, keystoneConf(dir, 3600));
  await writeFile(shortConf, keystoneConf(dir, shortExpiration));

  try {
    await Promise.all([
      manage(dir, conf, ['fernet_setup', '--keystone-user', 'root', '--keystone-group', 'root']),
      manage(dir, conf, ['credential_setup', '--keystone-user', 'root', '--keystone-group', 'root']),
      manage(dir, conf, ['db_sync']).then(async () => {
        // WAL: Keystone leaves read statements open now and then; in SQLite's default rollback
        // journal they keep a shared lock and every later write fails with "database is locked".
        const db = knex({ client: 'better-sqlite3', connection: { filename: join(dir, 'keystone.db') }, useNullAsDefault: true });
        try {
          await db.raw('PRAGMA journal_mode = WAL');
        } finally {
          await db.destroy();
        }
      }),
    ]);
    phase('keys + db_sync');
    // The servers load Keystone (slow imports) while bootstrap fills the database.
    instances.push(startInstance('main', dir, conf, port), startInstance('short', dir, shortConf, shortPort));
    await Promise.all([
      manage(dir, conf, [
        'bootstrap',
        '--bootstrap-username', 'admin',
        '--bootstrap-password', adminPassword,
        '--bootstrap-project-name', 'admin',
        '--bootstrap-role-name', 'admin',
        '--bootstrap-service-name', 'keystone',
        '--bootstrap-region-id', 'RegionOne',
        '--bootstrap-admin-url', `${url}/v3`,
        '--bootstrap-internal-url', `${url}/v3`,
        '--bootstrap-public-url', `${url}/v3`,
      ]),
      ...instances.map((i) => i.ready),
    ]);

    phase('bootstrap + servers');
    const admin = { name: 'admin', password: adminPassword, projectName: 'admin' };
    const adminToken = await issueToken(`${url}/v3`, admin.name, admin.password, admin.projectName);
    const { projects, users } = await populate([new KeystoneApi(`${url}/v3`, adminToken), new KeystoneApi(`${shortUrl}/v3`, adminToken)], imageUrl);
    phase('populate');

    const harness: TestKeystone = {
      url,
      authUrl: `${url}/v3`,
      shortUrl,
      shortExpiration,
      imagePort,
      imageUrl,
      dir,
      admin,
      projects,
      users,
      startupMs: 0,
      token: (user, opts = {}) => {
        const u = typeof user === 'string' ? users[user] : user;
        return issueToken(`${opts.url ?? url}/v3`, u.name, u.password, u.projectName);
      },
      async revoke(token) {
        const res = await fetch(`${url}/v3/auth/tokens`, {
          method: 'DELETE',
          headers: { 'X-Auth-Token': await harness.adminToken(), 'X-Subject-Token': token },
        });
        if (res.status !== 204) throw new Error(`revoking a token: HTTP ${res.status} ${await res.text()}`);
      },
      adminToken: () => issueToken(`${url}/v3`, admin.name, admin.password, admin.projectName),
      logs: () => instances.map((i) => `--- keystone ${i.name} (${i.log}) ---\n${tail(i.log, 60)}`).join('\n'),
      async stop() {
        await Promise.all(instances.map((i) => i.stop()));
        await rm(dir, { recursive: true, force: true });
      },
    };
    harness.startupMs = Date.now() - started;
    return harness;
  } catch (err) {
    const logs = instances.map((i) => `--- keystone ${i.name} ---\n${tail(i.log, 80)}`).join('\n');
    await Promise.all(instances.map((i) => i.stop()));
    if (!process.env.GLINT_TEST_KEEP_KEYSTONE) await rm(dir, { recursive: true, force: true });
    throw new Error(`Keystone did not start: ${(err as Error).message}\n${logs}`, { cause: err });
  }
}

function keystoneConf(dir: string, expiration: number): string {
  return [
    '[DEFAULT]',
    'use_stderr = true',
    `debug = ${process.env.GLINT_TEST_KEYSTONE_DEBUG ? 'true' : 'false'}`,
    '[database]',
    `connection = sqlite:///${join(dir, 'keystone.db')}`,
    '[token]',
    'provider = fernet',
    `expiration = ${expiration}`,
    '[fernet_tokens]',
    `key_repository = ${join(dir, 'fernet-keys')}`,
    '[fernet_receipts]',
    `key_repository = ${join(dir, 'fernet-keys')}`,
    '[credential]',
    `key_repository = ${join(dir, 'credential-keys')}`,
    // Keystone re-reads user, project and roles from the database for every token it checks
    // unless it caches, and production deployments always cache (memcached). An in-process
    // cache per instance is enough here; a revocation clears the revoking instance's cache.
    '[cache]',
    'enabled = true',
    'backend = dogpile.cache.memory',
    '[identity]',
    // bcrypt's minimum cost: users are created and log in often, and these are test passwords.
    'password_hash_rounds = 4',
    '',
  ].join('\n');
}

/** Environment for Keystone processes: none of the caller's OS_* credentials leak in. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OS_')) env[k] = v;
  return { ...env, ...extra };
}

/** Runs keystone-manage; rejects with its output on a non-zero exit. */
function manage(dir: string, conf: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(KEYSTONE_MANAGE, ['--config-file', conf, ...args], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', (err) => {
      running.delete(child);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      running.delete(child);
      if (code === 0) resolve();
      else reject(new Error(`keystone-manage ${args[0]} exited with ${code ?? signal}:\n${output.split('\n').slice(-40).join('\n')}`));
    });
  });
}

interface Instance {
  name: string;
  log: string;
  ready: Promise<void>;
  stop(): Promise<void>;
}

/** uwsgi serving keystone-wsgi-public on 127.0.0.1:port; `ready` resolves once /v3 answers. */
function startInstance(name: string, dir: string, conf: string, port: number): Instance {
  const log = join(dir, `uwsgi-${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(
    UWSGI,
    [
      '--plugin', 'python3',
      '--http-socket', `127.0.0.1:${port}`,
      '--wsgi-file', KEYSTONE_WSGI,
      '--master',
      // One single-threaded worker: Keystone's SQLite connections must not cross threads (a
      // connection closed from another thread keeps its lock: "database is locked").
      '--processes', '1',
      '--threads', '1',
      '--need-app',
      '--die-on-term',
      '--no-orphans',
      '--buffer-size', '65535',
      '--disable-logging',
      // uwsgi's http-socket closes the connection after each response; saying so stops node's
      // fetch from reusing a socket that is about to close ("other side closed").
      '--add-header', 'Connection: close',
    ],
    { cwd: dir, env: cleanEnv({ OS_KEYSTONE_CONFIG_FILES: conf }), stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  running.add(child);
  let exited: string | null = null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited with ${code ?? signal}`;
      running.delete(child);
      resolve();
    });
    child.once('error', (err) => {
      exited = `could not be started: ${err.message}`;
      running.delete(child);
      resolve();
    });
  });

  const ready = (async () => {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`uwsgi (${name}) ${exited}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/v3`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error(`uwsgi (${name}) did not answer on port ${port} within 90 s`);
  })();
  ready.catch(() => {});

  return {
    name,
    log,
    ready,
    async stop() {
      if (exited) return;
      // SIGINT: uwsgi stops the whole stack at once (SIGTERM would wait for graceful worker exit).
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Reserves n distinct free loopback ports (all held open together, then released). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () =>
      new Promise<import('node:net').Server>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Password authentication, project-scoped; returns the token. */
export async function issueToken(authUrl: string, name: string, password: string, projectName: string): Promise<string> {
  const res = await fetch(`${authUrl}/auth/tokens?nocatalog`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name, domain: { name: 'Default' }, password } } },
        scope: { project: { name: projectName, domain: { name: 'Default' } } },
      },
    }),
  });
  const token = res.headers.get('x-subject-token');
  const text = await res.text();
  if (res.status !== 201 || !token) throw new Error(`token for ${name}@${projectName}: HTTP ${res.status} ${text}`);
  return token;
}

/** Minimal Identity v3 admin client (an admin token works on either instance: shared keys). */
class KeystoneApi {
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { 'X-Auth-Token': this.token, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path}: HTTP ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  async project(name: string): Promise<string> {
    return (await this.call<{ project: { id: string } }>('POST', '/projects', { project: { name, domain_id: 'default' } })).project.id;
  }

  async roleId(name: string): Promise<string> {
    const found = await this.call<{ roles: Array<{ id: string }> }>('GET', `/roles?name=${encodeURIComponent(name)}`);
    if (found.roles[0]) return found.roles[0].id;
    return (await this.call<{ role: { id: string } }>('POST', '/roles', { role: { name } })).role.id;
  }

  async user(name: string, password: string, projectId: string): Promise<string> {
    const body = { user: { name, password, domain_id: 'default', default_project_id: projectId } };
    return (await this.call<{ user: { id: string } }>('POST', '/users', body)).user.id;
  }

  async grant(projectId: string, userId: string, roleId: string): Promise<void> {
    await this.call('PUT', `/projects/${projectId}/users/${userId}/roles/${roleId}`);
  }
}

type RoleName = 'admin' | 'member' | 'reader' | 'service';

/**
 * Projects, roles, users, grants and the image service. Two lanes, one per Keystone instance
 * (each serves one request at a time); within a lane calls are sequential.
 */
async function populate(lanes: [KeystoneApi, KeystoneApi], imageUrl: string): Promise<Pick<TestKeystone, 'projects' | 'users'>> {
  const [a, b] = lanes;
  const [[service, projA, projB], roleIds] = await Promise.all([
    (async () => [await a.project('service'), await a.project('projA'), await a.project('projB')] as const)(),
    (async () => {
      const ids = {} as Record<RoleName, string>;
      for (const role of ['admin', 'member', 'reader', 'service'] as const) ids[role] = await b.roleId(role);
      return ids;
    })(),
  ]);
  const plan: Array<[UserKey, string, string, string, RoleName[]]> = [
    ['glint', 'glint', 'service', service, ['admin', 'service']],
    ['adminA', 'alice-admin', 'projA', projA, ['admin']],
    ['memberA', 'mike-member', 'projA', projA, ['member']],
    ['readerA', 'rita-reader', 'projA', projA, ['reader']],
    ['memberB', 'bob-member', 'projB', projB, ['member']],
    ['adminB', 'bea-admin', 'projB', projB, ['admin']],
  ];
  const users = {} as Record<UserKey, KeystoneUser>;
  const createUsers = async (api: KeystoneApi, part: typeof plan) => {
    for (const [key, name, projectName, projectId, roles] of part) {
      const password = `${name}-secret`;
      const id = await api.user(name, password, projectId);
      for (const role of roles) await api.grant(projectId, id, roleIds[role]);
      users[key] = { name, password, id, projectName, projectId };
    }
  };
  const registerImageService = async (api: KeystoneApi) => {
    const created = await api.call<{ service: { id: string } }>('POST', '/services', {
      service: { name: 'glance', type: 'image', description: 'glint (Glance-compatible image service)' },
    });
    for (const iface of ['public', 'internal', 'admin']) {
      await api.call('POST', '/endpoints', {
        endpoint: { service_id: created.service.id, interface: iface, url: imageUrl, region_id: 'RegionOne' },
      });
    }
  };
  await Promise.all([
    createUsers(a, plan.slice(0, 4)),
    (async () => {
      await createUsers(b, plan.slice(4));
      await registerImageService(b);
    })(),
  ]);
  return { projects: { service, projA, projB }, users };
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
