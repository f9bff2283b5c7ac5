import { randomUUID } from 'node:crypto';
import type { Logger } from '../../lib/logger';
import type { TaskRepository } from '../repositories';
import {
  JobLeaseLostError,
  JobShutdownError,
  JobTimeoutError,
  type JobHandler,
  type JobOutcome,
  type JobQueue,
  type NewJob,
} from './handler';
import type { Task, TaskCompletion } from './task';

export interface JobRunnerOptions {
  tasks: TaskRepository;
  logger: Logger;
  /** This node's id; each claim is made as `<nodeId>/<n>`. */
  nodeId: string;
  /** How long a claim holds without renewal (ms). A dead node's jobs are resumed after this. */
  leaseMs?: number;
  /** How often a running job's lease is renewed (ms; default a third of the lease). */
  heartbeatMs?: number;
  /** How often the runner looks for jobs other nodes queued (ms). */
  pollIntervalMs?: number;
  /** How long a finished job stays listed: its `expiresAt` is its completion plus this (ms). */
  resultTtlMs: number;
  /** After the runner aborts a run, how long the handler has to stop before the job is settled without it (ms). */
  abortGraceMs?: number;
}

/** One claimed job running on this node. */
interface Run {
  job: Task;
  /** The claim: what `claimNext` was called with, needed for every later write. */
  token: string;
  handler: JobHandler;
  controller: AbortController;
  /** When the claim was asked for: the lease holds at least until this + leaseMs. */
  claimedAt: number;
  /** Resolves once the job's final status (or hand-back) is written, or known lost. */
  finished: Promise<void>;
}

/** How a handler's run ended, seen from the runner. */
type Ended =
  | { kind: 'returned'; outcome: JobOutcome | void }
  | { kind: 'threw'; error: unknown }
  /** The run was aborted and the handler did not stop within the grace period. */
  | { kind: 'abandoned' };

const WRITE_ATTEMPTS = 3;

/**
 * Runs jobs from the catalog on this node; every node runs one. Jobs are claimed with a lease
 * (`TaskRepository.claimNext`), only for types whose handler has a free slot here; the lease is
 * renewed while the handler runs, and the run is aborted when renewal is refused (another node
 * owns the job now, and this node writes nothing more) or when the handler's timeout passes (the
 * job fails). Whatever the handler does, the final status is written by the runner, conditionally
 * on the claim still holding. `stop()` aborts every run and hands its job back to pending. A node
 * that dies leaves its leases to expire; any runner then claims those jobs again.
 *
 * A job queued on this node starts at once (`enqueue` wakes the runner); jobs queued elsewhere
 * are found by polling.
 */
export class JobRunner implements JobQueue {
  private readonly tasks: TaskRepository;
  private readonly logger: Logger;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly pollIntervalMs: number;
  private readonly abortGraceMs: number;
  private readonly byType = new Map<string, JobHandler>();
  /** Runs per handler whose `run` has not settled yet: what the concurrency limit counts. */
  private readonly busy = new Map<JobHandler, Set<Run>>();
  /** Runs whose job is not settled in the catalog yet. */
  private readonly runs = new Set<Run>();
  private started = false;
  private poll: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private pumpAgain = false;
  private claims = 0;

  constructor(private readonly options: JobRunnerOptions) {
    this.tasks = options.tasks;
    this.logger = options.logger;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.heartbeatMs = options.heartbeatMs ?? Math.max(1, Math.floor(this.leaseMs / 3));
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.abortGraceMs = options.abortGraceMs ?? 5000;
    if (this.heartbeatMs >= this.leaseMs) throw new Error('The job heartbeat must be shorter than the lease.');
  }

  /** Adds a handler; its types must not have one already. Allowed before and after `start()`. */
  register(handler: JobHandler): void {
    if (!Number.isInteger(handler.concurrency) || handler.concurrency < 1) throw new Error(`Job concurrency must be a positive integer (${handler.types.join(', ')}).`);
    if (!(handler.timeoutMs > 0)) throw new Error(`Job timeout must be positive (${handler.types.join(', ')}).`);
    for (const type of handler.types) if (this.byType.has(type)) throw new Error(`Job type ${type} already has a handler.`);
    for (const type of handler.types) this.byType.set(type, handler);
    this.busy.set(handler, new Set());
    this.kick();
  }

  /** Starts claiming jobs: now, on every `kick`, and every poll interval. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.poll = setInterval(() => this.kick(), this.pollIntervalMs);
    this.poll.unref();
    this.kick();
  }

  /**
   * Stops claiming, aborts every run in flight and hands its job back to pending (a handler that
   * still finishes has its outcome written instead), then resolves.
   */
  async stop(): Promise<void> {
    this.started = false;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    for (const run of this.runs) run.controller.abort(new JobShutdownError());
    await this.pumping;
    await Promise.all([...this.runs].map((run) => run.finished));
  }

  async enqueue(job: NewJob): Promise<Task> {
    const task = await this.tasks.create({
      id: job.id ?? randomUUID(),
      type: job.type,
      owner: job.owner,
      imageId: job.imageId,
      requestId: job.requestId,
      userId: job.userId,
      input: job.input,
    });
    this.kick();
    return task;
  }

  async cancel(id: string, message: string): Promise<boolean> {
    const expiresAt = new Date(Date.now() + this.options.resultTtlMs);
    return (await this.tasks.update(id, { status: 'failure', message, result: null, expiresAt }, 'pending')) !== null;
  }

  /** Looks for claimable jobs now (no-op while stopped). */
  kick(): void {
    if (!this.started) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      if (this.pumpAgain) {
        this.pumpAgain = false;
        this.kick();
      }
    });
  }

  /** Handler runs in flight on this node. */
  get inFlight(): number {
    let count = 0;
    for (const runs of this.busy.values()) count += runs.size;
    return count;
  }

  /** Claims jobs one at a time while some handler has a free slot and jobs are waiting. */
  private async pump(): Promise<void> {
    while (this.started) {
      const types = this.freeTypes();
      if (types.length === 0) return;
      const token = `${this.options.nodeId}/${++this.claims}`;
      const claimedAt = Date.now();
      let job: Task | null;
      try {
        job = await this.tasks.claimNext(types, token, this.leaseMs);
      } catch (err) {
        this.logger.error('job claim failed', { error: String(err) });
        return;
      }
      if (!job) return;
      const handler = this.byType.get(job.type);
      if (!this.started || !handler) {
        // stopped while claiming: give the job straight back
        await this.persist(() => this.tasks.release(job.id, token), job, 'hand-back');
        return;
      }
      this.launch(job, token, handler, claimedAt);
    }
  }

  private freeTypes(): string[] {
    const types: string[] = [];
    for (const [handler, runs] of this.busy) if (runs.size < handler.concurrency) types.push(...handler.types);
    return types;
  }

  private launch(job: Task, token: string, handler: JobHandler, claimedAt: number): void {
    const run: Run = { job, token, handler, controller: new AbortController(), claimedAt, finished: Promise.resolve() };
    const slots = this.busy.get(handler) as Set<Run>;
    slots.add(run);
    this.runs.add(run);
    const handlerSettled = () => {
      slots.delete(run);
      this.kick();
    };
    run.finished = this.execute(run, handlerSettled)
      .catch((err: unknown) => this.logger.error('job runner failure', { jobId: job.id, error: String(err) }))
      .finally(() => this.runs.delete(run));
  }

  private async execute(run: Run, handlerSettled: () => void): Promise<void> {
    const { handler, controller } = run;
    const stopHeartbeat = this.heartbeat(run);
    const timeout = setTimeout(() => controller.abort(new JobTimeoutError(handler.timeoutMs)), handler.timeoutMs);
    let ended: Ended;
    try {
      ended = await this.settle(run, handlerSettled);
    } finally {
      clearTimeout(timeout);
      stopHeartbeat();
    }
    await this.conclude(run, ended);
  }

  /** The handler's end, or `abandoned` once it ignores an abort for longer than the grace period. */
  private settle(run: Run, handlerSettled: () => void): Promise<Ended> {
    const { signal } = run.controller;
    const settled: Promise<Ended> = (async () => run.handler.run(run.job, signal))().then(
      (outcome) => ({ kind: 'returned', outcome }),
      (error: unknown) => ({ kind: 'threw', error }),
    );
    void settled.finally(handlerSettled);
    return new Promise((resolve) => {
      let grace: NodeJS.Timeout | undefined;
      const onAbort = () => {
        grace = setTimeout(() => {
          this.logger.warn('job handler ignored its abort signal', { jobId: run.job.id, type: run.job.type, reason: String(signal.reason) });
          resolve({ kind: 'abandoned' });
        }, this.abortGraceMs);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      void settled.then((ended) => {
        clearTimeout(grace);
        signal.removeEventListener('abort', onAbort);
        resolve(ended);
      });
    });
  }

  /** Renews the lease every heartbeat; aborts the run when the claim is refused or runs out. */
  private heartbeat(run: Run): () => void {
    let stopped = false;
    let timer: NodeJS.Timeout | null = null;
    let heldUntil = run.claimedAt + this.leaseMs;
    const lost = () => {
      if (!stopped) run.controller.abort(new JobLeaseLostError());
    };
    const beat = async () => {
      const asked = Date.now();
      try {
        if (!(await this.tasks.renewLease(run.job.id, run.token, this.leaseMs))) return lost();
        heldUntil = asked + this.leaseMs;
      } catch (err) {
        this.logger.warn('job lease renewal failed', { jobId: run.job.id, error: String(err) });
        // another node may claim the job once the lease runs out: stop before that
        if (Date.now() + this.heartbeatMs >= heldUntil) return lost();
      }
      if (!stopped) timer = setTimeout(() => void beat(), this.heartbeatMs);
    };
    timer = setTimeout(() => void beat(), this.heartbeatMs);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }

  /** Writes what the run's end means for the job: its final status, a hand-back, or nothing. */
  private async conclude(run: Run, ended: Ended): Promise<void> {
    const { job } = run;
    const { signal } = run.controller;
    const reason: unknown = signal.aborted ? signal.reason : undefined;
    if (reason instanceof JobLeaseLostError) {
      this.logger.warn('job lease lost; leaving the job to its new owner', { jobId: job.id, type: job.type });
      return;
    }
    if (ended.kind === 'returned') return this.finish(run, completionOf(ended.outcome));
    if (reason instanceof JobShutdownError) {
      this.logger.info('job interrupted by shutdown; handing it back', { jobId: job.id, type: job.type });
      await this.persist(() => this.tasks.release(job.id, run.token), job, 'hand-back');
      return;
    }
    if (reason instanceof JobTimeoutError) return this.finish(run, { status: 'failure', message: reason.message, result: null });
    const error = ended.kind === 'threw' ? ended.error : reason;
    this.logger.error('job failed', { jobId: job.id, type: job.type, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    return this.finish(run, { status: 'failure', message: messageOf(error), result: null });
  }

  private async finish(run: Run, completion: Omit<TaskCompletion, 'expiresAt'>): Promise<void> {
    const write = () => this.tasks.finish(run.job.id, run.token, { ...completion, expiresAt: new Date(Date.now() + this.options.resultTtlMs) });
    await this.persist(write, run.job, 'final status');
  }

  /**
   * A conditional write on the job's claim, retried on errors. When every attempt fails the lease
   * runs out and another node resumes the job; when the claim is gone, nothing is written.
   */
  private async persist(write: () => Promise<boolean>, job: Task, what: string): Promise<void> {
    for (let attempt = 1; attempt <= WRITE_ATTEMPTS; attempt++) {
      try {
        if (!(await write())) this.logger.warn(`job claim lost before its ${what} was written`, { jobId: job.id, type: job.type });
        return;
      } catch (err) {
        this.logger.error(`writing a job's ${what} failed`, { jobId: job.id, attempt, error: String(err) });
        if (attempt < WRITE_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
      }
    }
  }
}

function completionOf(outcome: JobOutcome | void): Omit<TaskCompletion, 'expiresAt'> {
  if (!outcome) return { status: 'success', message: '', result: null };
  return { status: outcome.status, message: outcome.message ?? '', result: outcome.result ?? null };
}

/** A failure message for anything a handler may throw. */
function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error || 'Job failed.';
  if (error === undefined || error === null) return 'Job failed without an error.';
  try {
    return `Job failed: ${JSON.stringify(error)}`;
  } catch {
    return `Job failed: ${String(error)}`;
  }
}
