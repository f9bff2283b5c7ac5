import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import { run } from './proc';

/** A Debian package the bench uses and the program that tells whether it is there. */
interface Requirement {
  pkg: string;
  program: string;
  /** What goes missing without it. */
  purpose: string;
}

const REQUIREMENTS: Requirement[] = [
  { pkg: 'curl', program: '/usr/bin/curl', purpose: 'upload/download client' },
  { pkg: 'wrk', program: '/usr/bin/wrk', purpose: 'HTTP load generator' },
  { pkg: 'nginx-light', program: '/usr/sbin/nginx', purpose: 'nginx reference' },
  { pkg: 'glance-api', program: '/usr/bin/glance-api', purpose: 'Glance reference' },
];

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

export interface InstallReport {
  /** Human-readable lines for the report. */
  notes: string[];
  /** Packages still missing after the attempt, with the reason. */
  missing: Map<string, string>;
  versions: Record<string, string>;
}

/**
 * Installs the missing Debian packages when running as root: one `apt-get update`, then
 * `apt-get install -y`, with a policy-rc.d that forbids starting services (exit 101) so that
 * nginx and glance-api do not come up on their standard ports; the bench runs its own instances.
 * A policy-rc.d the bench wrote is removed again; one that was already there is left alone.
 */
export async function ensurePackages(options: { allowInstall: boolean }): Promise<InstallReport> {
  const notes: string[] = [];
  const missing = new Map<string, string>();
  const absent = REQUIREMENTS.filter((r) => !existsSync(r.program));
  if (absent.length === 0) {
    notes.push('all packages present (curl, wrk, nginx-light, glance-api)');
  } else if (!options.allowInstall) {
    for (const r of absent) missing.set(r.pkg, `not installed and --no-install given (${r.purpose})`);
  } else if (process.getuid?.() !== 0) {
    for (const r of absent) missing.set(r.pkg, `not installed and the bench is not root (${r.purpose}); run: apt-get install -y ${r.pkg}`);
  } else {
    const names = absent.map((r) => r.pkg);
    notes.push(`installing ${names.join(' ')}`);
    const wrotePolicy = !existsSync(POLICY_RC_D);
    if (wrotePolicy) writeFileSync(POLICY_RC_D, '#!/bin/sh\n# written by glint bench: no service starts during apt-get install\nexit 101\n', { mode: 0o755 });
    try {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      const started = Date.now();
      const update = await run('apt-get', ['update', '-q'], { env, timeoutMs: 300_000 });
      if (update.code !== 0) notes.push(`apt-get update exited ${update.code}: ${update.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      const install = await run('apt-get', ['install', '-y', '-q', ...names], { env, timeoutMs: 900_000 });
      notes.push(`apt-get install ${names.join(' ')}: exit ${install.code} after ${((Date.now() - started) / 1000).toFixed(0)} s`);
      if (install.code !== 0) notes.push(`apt-get install output: ${(install.stderr || install.stdout).trim().split('\n').slice(-5).join(' | ')}`);
    } finally {
      if (wrotePolicy) unlinkSync(POLICY_RC_D);
    }
    for (const r of absent) {
      if (!existsSync(r.program)) missing.set(r.pkg, `apt-get install ${r.pkg} did not provide ${r.program} (${r.purpose})`);
    }
  }
  return { notes, missing, versions: await versions() };
}

async function versions(): Promise<Record<string, string>> {
  const out: Record<string, string> = { node: process.version };
  const pkgs = ['nginx-light', 'glance-api', 'wrk', 'curl', 'python3-eventlet'];
  const query = await run('dpkg-query', ['-W', '-f', '${Package} ${Version}\\n', ...pkgs]).catch(() => null);
  for (const line of (query?.stdout ?? '').split('\n')) {
    const [name, version] = line.trim().split(' ');
    if (name && version) out[name] = version;
  }
  const kernel = await run('uname', ['-r']).catch(() => null);
  if (kernel?.code === 0) out.kernel = kernel.stdout.trim();
  return out;
}
