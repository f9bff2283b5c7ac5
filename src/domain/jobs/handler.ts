import type { Task } from './task';

/** A claimed task, as a handler sees it. */
export type Job = Task;

/** What a handler reports when it ends without throwing. */
export type JobOutcome =
  | { status: 'success'; message?: string; result?: Record<string, unknown> | null }
  | { status: 'failure'; message: string; result?: Record<string, unknown> | null };

/**
 * The work for one or more job types, registered with the node's `JobRunner`.
 *
 * Contract:
 * - `run` is called with a job this node has claimed (status processing, lease held). While it
 *   runs, the runner keeps the lease alive; the handler never touches the task row itself.
 * - Ending: resolve with an outcome (or nothing: success, no result) and the runner writes it as
 *   the final status; throw anything and the runner writes `failure` with the thrown message.
 * - `signal` aborts when the run must stop: `JobTimeoutError` (over `timeoutMs`; the job fails),
 *   `JobShutdownError` (the node stops; the job is handed back to pending for any node), or
 *   `JobLeaseLostError` (another node may own the job now; the runner writes nothing). The handler
 *   must then stop soon, leave nothing half-done, and throw — a handler that resolves anyway has
 *   its outcome written (unless the lease was lost), since the work did finish.
 * - A run may be a resumption: the job's previous node died or stopped mid-way. Handlers must
 *   be safe to run again on the same job, on any node; nothing a resumption needs may live in
 *   process memory.
 */
export interface JobHandler {
  /** The task types this handler runs; they share its concurrency limit. */
  readonly types: readonly string[];
  /** Most runs of these types at once on one node (≥ 1). */
  readonly concurrency: number;
  /** Longest a run may take (ms) before it is aborted and the job fails. */
  readonly timeoutMs: number;
  run(job: Job, signal: AbortSignal): Promise<JobOutcome | void>;
}

/** What a job needs to be queued: the task's fields, minus those the catalog fills in. */
export interface NewJob {
  /** Optional: a caller that must name the task before queueing it (a lock) passes its own id. */
  id?: string;
  type: string;
  owner: string | null;
  imageId: string | null;
  requestId: string | null;
  userId: string | null;
  input: Record<string, unknown>;
}

/** Queues jobs for the runners of every node. What request-side services depend on. */
export interface JobQueue {
  /** Records a pending job in the catalog and wakes this node's runner; any node may run it. */
  enqueue(job: NewJob): Promise<Task>;
  /**
   * Fails a job that no node has claimed yet (still pending), with `message`; false when a node
   * already runs or ran it (then its handler decides).
   */
  cancel(id: string, message: string): Promise<boolean>;
}

/** Abort reason: the run took longer than its handler's `timeoutMs`. */
export class JobTimeoutError extends Error {
  override readonly name = 'JobTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`Job timed out after ${formatDuration(timeoutMs)}.`);
  }
}

/** Abort reason: the node is stopping; the job goes back to pending. */
export class JobShutdownError extends Error {
  override readonly name = 'JobShutdownError';
  constructor() {
    super('The node is shutting down; the job is handed back.');
  }
}

/** Abort reason: this node's claim on the job is gone (renewal refused, or not renewed in time). */
export class JobLeaseLostError extends Error {
  override readonly name = 'JobLeaseLostError';
  constructor() {
    super('The lease on the job was lost; another node may be running it.');
  }
}

function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
