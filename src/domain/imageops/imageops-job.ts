import type { Job, JobHandler, JobOutcome } from '../jobs/handler';
import { runCheck, type CheckRunDeps } from './check-run';
import { runCompress, type CompressRunDeps } from './compress-run';
import { CHECK_TASK, COMPRESS_TASK } from './reports';

export type ImageOpsJobDeps = CheckRunDeps & CompressRunDeps & {
  /** Checks and compresses at once on this process (they share the slots). */
  concurrency: number;
  /** Longest one job may run (ms); then qemu-img is killed and the job reports its time-out status. */
  timeoutMs: number;
};

/**
 * The imageops jobs on the node's JobRunner: checks and compresses share `concurrency` slots per
 * process; the rest stay queued in the catalog for whichever node has a free slot.
 */
export class ImageOpsJob implements JobHandler {
  readonly types = [CHECK_TASK, COMPRESS_TASK];
  readonly concurrency: number;
  readonly timeoutMs: number;

  constructor(private readonly deps: ImageOpsJobDeps) {
    this.concurrency = deps.concurrency;
    this.timeoutMs = deps.timeoutMs;
  }

  run(job: Job, signal: AbortSignal): Promise<JobOutcome> {
    return job.type === CHECK_TASK ? runCheck(this.deps, job, signal) : runCompress(this.deps, job, signal);
  }
}
