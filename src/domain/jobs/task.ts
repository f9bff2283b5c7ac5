/**
 * A job as the catalog keeps it. Glance calls these tasks (`/v2/tasks`), so the model keeps that
 * name; the runner (./runner.ts) calls a claimed task a job.
 */

export type TaskStatus = 'pending' | 'processing' | 'success' | 'failure';

export interface Task {
  id: string;
  type: string;
  status: TaskStatus;
  owner: string | null;
  imageId: string | null;
  requestId: string | null;
  userId: string | null;
  input: Record<string, unknown>;
  result: Record<string, unknown> | null;
  message: string;
  createdAt: Date;
  updatedAt: Date;
  /** When a finished task stops being listed (Glance's `task_time_to_live` after completion). */
  expiresAt: Date | null;
  /**
   * The claim running the task: a token unique to one claim (`<node id>/<n>`), kept after the task
   * finishes as a record of who finished it; null while pending.
   */
  claimedBy: string | null;
  /** Until when the claim holds; null when no claim holds (pending, finished). */
  leaseExpiresAt: Date | null;
}

export type NewTask = Pick<Task, 'id' | 'type' | 'owner' | 'imageId' | 'requestId' | 'userId' | 'input'>;

/** How a run ended, as written by `TaskRepository.finish`. */
export interface TaskCompletion {
  status: 'success' | 'failure';
  message: string;
  result: Record<string, unknown> | null;
  expiresAt: Date;
}
