import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';

/**
 * Child processes of the bench. Every long-running child is started in its own process group
 * (detached) with its output going to a log file, and registered so that `killAll` — called from
 * the bench's `finally` and from its signal handlers — can end the whole group.
 */

const running = new Set<Service>();
/** Set once the bench is shutting down: no new service may start after the last sweep. */
let closed = false;

export interface Service {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** The last `lines` lines of the log, for error messages. */
  tail(lines?: number): string;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the leader exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

export function startService(name: string, command: string, args: string[], options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): Service {
  if (closed) throw new Error(`not starting ${name}: the bench is shutting down`);
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null)));
    child.once('error', () => resolve(-1));
  });
  const service: Service = {
    name,
    pid: child.pid ?? -1,
    child,
    logFile: options.logFile,
    exited,
    tail: (lines = 30) => tailFile(options.logFile, lines),
    async stop(graceMs = 10_000) {
      running.delete(service);
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalGroup(child, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // workers forked by the leader (nginx, glance-api) may outlive it for a moment
      signalGroup(child, 'SIGKILL');
    },
  };
  running.add(service);
  return service;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // group already gone
  }
}

/**
 * Kills every service still registered. Safe to call from signal handlers and `finally`;
 * `final` also refuses any later start, so a scenario racing a signal cannot leave a child behind.
 */
export async function stopAll(options: { final?: boolean } = {}): Promise<void> {
  if (options.final) closed = true;
  await Promise.all([...running].map((s) => s.stop(5_000).catch(() => undefined)));
}

export function tailFile(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`), capturing its output. */
export function run(command: string, args: string[], options: SpawnOptions & { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
    child.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like `run`, but rejects with the output when the exit code is not 0. */
export async function runOk(command: string, args: string[], options: SpawnOptions & { timeoutMs?: number; input?: string } = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.code}:\n${(result.stderr || result.stdout).trim().slice(-2000)}`);
  }
  return result.stdout;
}

// the tests' own: a free loopback port, found by listening on port 0
export { freePort } from '../test/support/process';

/** Polls `url` until it answers `expect` (any status < 500 by default), the service dies, or time runs out. */
export async function waitForHttp(url: string, service: Service, timeoutMs: number, expect?: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    if (service.child.exitCode !== null || service.child.signalCode !== null) {
      throw new Error(`${service.name} exited (${service.child.exitCode ?? service.child.signalCode}) before answering ${url}; log ${service.logFile}:\n${service.tail()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (expect === undefined ? res.status < 500 : res.status === expect) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String((err as Error).cause ?? err);
    }
    if (Date.now() > deadline) {
      throw new Error(`${service.name} did not answer ${url} within ${timeoutMs / 1000} s (last: ${last}); log ${service.logFile}:\n${service.tail()}`);
    }
    await sleep(150);
  }
}

/** Node arguments that run a TypeScript file directly (tsx's CommonJS hook). */
export const TSX_CJS = ['--require', require.resolve('tsx/cjs')];

/**
 * Writes back what is dirty in the page cache (`sync`), so that a timed write does not compete
 * with the writeback of the one before it (a gigabyte of it, after an upload).
 */
export async function flushDirtyPages(): Promise<void> {
  await runOk('sync', [], { timeoutMs: 120_000 });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Peak and current resident set size of a process, in bytes, from /proc/<pid>/status. */
export function memoryOf(pid: number): { hwm: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { hwm: field('VmHWM'), rss: field('VmRSS') };
}

/** `pid` and its live descendants (glint with `workers` ≥ 1 is a primary and its workers). */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${tree[i]}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        for (const child of readFileSync(`/proc/${tree[i]}/task/${task}/children`, 'utf8').split(' ')) {
          if (child.trim() !== '') tree.push(Number(child));
        }
      } catch {
        // task gone
      }
    }
  }
  return tree;
}

/**
 * Memory of a process tree: `hwm` and `rss` are the largest single process's (each process is
 * the unit that serves a request), `totalRss` the sum over all of them.
 */
export function treeMemoryOf(pid: number): { hwm: number; rss: number; totalRss: number; processes: number } {
  let hwm = 0;
  let rss = 0;
  let totalRss = 0;
  let processes = 0;
  for (const member of processTree(pid)) {
    try {
      const memory = memoryOf(member);
      hwm = Math.max(hwm, memory.hwm);
      rss = Math.max(rss, memory.rss);
      totalRss += memory.rss;
      processes += 1;
    } catch {
      // exited meanwhile
    }
  }
  return { hwm, rss, totalRss, processes };
}

/**
 * Samples VmRSS every `intervalMs` as a second opinion beside VmHWM (which the kernel keeps
 * exactly, but from process start). `stop()` returns the largest value seen in any process of
 * the tree.
 */
export function sampleRss(pid: number, intervalMs = 50): { stop(): number } {
  let peak = 0;
  const tick = () => {
    try {
      peak = Math.max(peak, treeMemoryOf(pid).rss);
    } catch {
      // process gone
    }
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return peak;
    },
  };
}
