import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/** How one run of a tool (qemu-img) ended. */
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
