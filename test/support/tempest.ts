import { execFile, spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestKeystone } from './keystone';

/**
 * Debian's Tempest (.ci/install-tempest.sh) driven against an image service registered in a
 * test Keystone's catalog (test/support/keystone.ts registers `image` at `ks.imageUrl`).
 *
 * Tempest uses dynamic credentials: with the Keystone admin it creates a project and user per
 * test class (member, or admin for the admin classes) and deletes them afterwards.
 */

const TEMPEST = '/usr/bin/tempest';
const STESTR = '/usr/bin/stestr';
const SUBUNIT2CSV = '/usr/bin/subunit2csv';

export type TempestStatus = 'success' | 'fail' | 'skip';

export interface TempestResult {
  /** Test id without Tempest's `[id-…,smoke]` attributes; a class fixture failure reads `setUpClass (module.Class)`. */
  id: string;
  status: TempestStatus;
}

export interface TempestRun {
  results: TempestResult[];
  passed: string[];
  failed: string[];
  skipped: string[];
  exitCode: number | null;
  wallMs: number;
  /** File holding Tempest's console output (subunit-trace: one line per test, tracebacks of failures). */
  consoleLog: string;
}

export interface TempestConfOptions {
  /** Directory for Tempest's own log and lock files. */
  dir: string;
  /** `[image-feature-enabled] import_image`: run the interoperable-import tests. */
  importImage?: boolean;
  /** `[image-feature-enabled] os_glance_reserved`: the service refuses os_glance_* properties. */
  osGlanceReserved?: boolean;
  /** `[image] http_image`: the URL the web-download tests import. */
  httpImage?: string;
}

/** tempest.conf for the image service of `ks`, with Keystone's admin for dynamic credentials. */
export function tempestConf(ks: TestKeystone, o: TempestConfOptions): string {
  const lines: Array<[string, Record<string, string | number | boolean>]> = [
    ['DEFAULT', { log_dir: o.dir, log_file: 'tempest.log', use_stderr: false }],
    ['oslo_concurrency', { lock_path: join(o.dir, 'locks') }],
    [
      'auth',
      {
        use_dynamic_credentials: true,
        create_isolated_networks: false,
        admin_username: ks.admin.name,
        admin_password: ks.admin.password,
        admin_project_name: ks.admin.projectName,
        admin_domain_name: 'Default',
        default_credentials_domain_name: 'Default',
      },
    ],
    [
      'identity',
      {
        auth_version: 'v3',
        uri_v3: ks.authUrl,
        region: 'RegionOne',
        v3_endpoint_type: 'public',
      },
    ],
    ['identity-feature-enabled', { api_v2: false, api_v3: true }],
    [
      'service_available',
      { glance: true, nova: false, cinder: false, neutron: false, swift: false, horizon: false, heat: false, placement: false },
    ],
    ['image', { endpoint_type: 'public', build_timeout: 60, build_interval: 1, ...(o.httpImage ? { http_image: o.httpImage } : {}) }],
    ['image-feature-enabled', { api_v1: false, api_v2: true, import_image: o.importImage ?? true, os_glance_reserved: o.osGlanceReserved ?? true }],
  ];
  return lines.map(([section, values]) => [`[${section}]`, ...Object.entries(values).map(([k, v]) => `${k} = ${v}`), ''].join('\n')).join('\n');
}

/**
 * Runs `tempest run --regex <regex>` in `dir` (Tempest writes .stestr.conf and the .stestr
 * repository there) and reads the results back from the stestr repository.
 */
export async function runTempest(options: { dir: string; confFile: string; regex: string; concurrency: number; timeoutMs: number }): Promise<TempestRun> {
  for (const file of [TEMPEST, STESTR, SUBUNIT2CSV]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run .ci/install-tempest.sh (installs tempest, python3-stestr, python3-subunit)`);
  }
  const consoleLog = join(options.dir, 'tempest-console.log');
  const started = Date.now();
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const fd = openSync(consoleLog, 'w');
    const child = spawn(
      TEMPEST,
      ['run', '--config-file', options.confFile, '--regex', options.regex, '--concurrency', String(options.concurrency)],
      { cwd: options.dir, env: pythonEnv(options.dir), stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  const wallMs = Date.now() - started;
  const subunit = join(options.dir, 'last.subunit');
  await shell(`${STESTR} last --subunit > ${subunit}`, options.dir);
  // subunit2csv exits 1 when the stream holds a failure; its output is complete all the same.
  const results = parseSubunitCsv(await shell(`${SUBUNIT2CSV} < ${subunit} || true`, options.dir));
  if (results.length === 0) throw new Error(`Tempest ran no test (exit ${exitCode}):\n${readFileSync(consoleLog, 'utf8').slice(-4000)}`);
  const by = (status: TempestStatus) => results.filter((r) => r.status === status).map((r) => r.id);
  return { results, passed: by('success'), failed: by('fail'), skipped: by('skip'), exitCode, wallMs, consoleLog };
}

/** The console output of one failed test (its subunit-trace block with the traceback). */
export function failureDetail(run: TempestRun, id: string): string {
  const text = readFileSync(run.consoleLog, 'utf8');
  const at = text.indexOf(`${id}\n---`);
  const start = at >= 0 ? at : text.indexOf(id);
  return start >= 0 ? text.slice(start, start + 3000) : '(not in the console log)';
}

/** testtools' CSV statuses: an expected failure counts as a pass, an unexpected success as a failure. */
const OUTCOMES: Record<string, TempestStatus | undefined> = {
  success: 'success',
  xfail: 'success',
  skip: 'skip',
  failure: 'fail',
  error: 'fail',
  uxsuccess: 'fail',
};

/** subunit2csv output (test,status,start_time,stop_time) → one result per test, attributes stripped. */
export function parseSubunitCsv(csv: string): TempestResult[] {
  const results: TempestResult[] = [];
  for (const line of csv.split('\n').slice(1)) {
    if (!line.trim()) continue;
    const match = /^("(?:[^"]|"")*"|[^,]*),([a-z]+),/.exec(line);
    if (!match) throw new Error(`unexpected subunit2csv line: ${line}`);
    const raw = match[1].startsWith('"') ? match[1].slice(1, -1).replace(/""/g, '"') : match[1];
    const status = match[2];
    const normalised = OUTCOMES[status];
    if (!normalised) throw new Error(`unexpected subunit2csv status ${status} in: ${line}`);
    results.push({ id: raw.replace(/\[[^\]]*\]$/, ''), status: normalised });
  }
  return results;
}

function pythonEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OS_') && !k.startsWith('TEMPEST_')) env[k] = v;
  return { ...env, HOME: home, LANG: 'C.UTF-8', PYTHONWARNINGS: 'ignore' };
}

function shell(command: string, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', command], { cwd, env: pythonEnv(cwd), maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}
