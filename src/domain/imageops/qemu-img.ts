import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** How one run of qemu-img ended. */
export interface ToolRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  signal: AbortSignal;
  /** Each chunk of standard output as it arrives (progress lines). */
  onStdout?(text: string): void;
}

/** Output kept per stream; qemu-img's JSON is a few hundred bytes, progress lines are dropped. */
const MAX_OUTPUT = 1024 * 1024;

/**
 * util-linux setpriv, when installed: tools start under `setpriv --pdeathsig KILL`, so a glint
 * process that dies (SIGKILL, OOM) takes its running qemu-img with it instead of leaving it to
 * finish a job another node has taken over.
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((candidate) => existsSync(candidate)) ?? null;

/**
 * Runs `program args…` and resolves with its exit code and output. The child runs in a process
 * group of its own: when `signal` aborts, the whole group is killed (SIGKILL) and the promise
 * rejects with the signal's reason once the child is gone, so no tool outlives its job; nor its
 * glint process (see SETPRIV). A program that cannot be started rejects with the spawn error.
 */
export function runTool(program: string, args: readonly string[], options: RunOptions): Promise<ToolRun> {
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const [command, commandArgs] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', program, ...args]] : [program, [...args]];
    const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    signal.addEventListener('abort', kill, { once: true });
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      options.onStdout?.(text);
      if (stdout.length < MAX_OUTPUT) stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += text;
    });
    child.once('error', (err) => {
      signal.removeEventListener('abort', kill);
      reject(err);
    });
    child.once('close', (code, killedBy) => {
      signal.removeEventListener('abort', kill);
      if (signal.aborted) return reject(signal.reason);
      if (code === null) return reject(new Error(`${program} was killed by ${killedBy ?? 'a signal'}`));
      resolve({ exitCode: code, stdout, stderr });
    });
  });
}

/** What `qemu-img info --output json` says about an image file. */
export interface QemuImageInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  /** Set when the image names another file (a backing file or an external data file). */
  externalFile: string | null;
  /** Every top-level scalar of the output, as strings. */
  fields: Record<string, string>;
}

/** The qemu-img commands the imageops jobs run, on files this node can open. */
export class QemuImg {
  constructor(private readonly program: string) {}

  /** `qemu-img info`; throws when it fails or prints no usable JSON. */
  async info(file: string, signal: AbortSignal): Promise<QemuImageInfo> {
    const run = await runTool(this.program, ['info', '-U', '--output', 'json', file], { signal });
    if (run.exitCode !== 0) throw new Error(`qemu-img info failed (${run.exitCode}): ${run.stderr.trim()}`);
    const json = parseObject(run.stdout);
    if (!json || typeof json.format !== 'string' || typeof json['virtual-size'] !== 'number') throw new Error('qemu-img info printed no image description');
    const dataFile = (json['format-specific'] as { data?: { 'data-file'?: unknown } } | undefined)?.data?.['data-file'];
    const backing = json['backing-filename'] ?? json['full-backing-filename'];
    return {
      format: json.format,
      virtualSize: json['virtual-size'],
      actualSize: typeof json['actual-size'] === 'number' ? json['actual-size'] : 0,
      externalFile: typeof backing === 'string' ? backing : typeof dataFile === 'string' ? dataFile : null,
      fields: scalarFields(json),
    };
  }

  /**
   * `qemu-img check -f qcow2` (the format is given: qemu-img never probes, so it opens nothing but
   * `file`). Exit 0 consistent, 2 corrupt, 3 leaked clusters, 1 the check failed; `fields` are the
   * top-level values it printed, as strings (empty when it printed no JSON).
   */
  async check(file: string, signal: AbortSignal): Promise<{ exitCode: number; fields: Record<string, string> }> {
    const run = await runTool(this.program, ['check', '-U', '-f', 'qcow2', '--output', 'json', file], { signal });
    const json = parseObject(run.stdout);
    return { exitCode: run.exitCode, fields: json ? scalarFields(json) : {} };
  }

  /**
   * `qemu-img convert -p -c -O qcow2` of `source` (its format given) into `target`, reporting
   * progress as a fraction in [0, 1]; `rateLimit` bytes/s when > 0. Throws when it fails.
   */
  async compress(source: string, format: string, target: string, options: { signal: AbortSignal; rateLimit: number; onProgress(fraction: number): void }): Promise<void> {
    const args = ['convert', '-p', '-c', '-f', format, '-O', 'qcow2'];
    if (options.rateLimit > 0) args.push('-r', String(options.rateLimit));
    args.push(source, target);
    let pending = '';
    const run = await runTool(this.program, args, {
      signal: options.signal,
      onStdout: (text) => {
        pending += text;
        // progress lines end in \r: "    (12.34/100%)\r"
        const lines = pending.split(/[\r\n]/);
        pending = lines.pop() ?? '';
        for (const line of lines) {
          const match = /\((\d+(?:\.\d+)?)\/100%\)/.exec(line);
          if (match) options.onProgress(Math.min(1, Math.max(0, Number(match[1]) / 100)));
        }
      },
    });
    if (run.exitCode !== 0) throw new Error(`qemu-img convert failed (${run.exitCode}): ${run.stderr.trim()}`);
  }
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Top-level strings, numbers and booleans as strings (imageops keeps only `key: value` lines). */
function scalarFields(json: Record<string, unknown>): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(json)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') fields[key] = String(value);
  }
  return fields;
}
