import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import type { Logger } from '../../lib/logger';
import type { RequestContext } from '../context';
import type { Image } from '../image';
import type { ImageDataService } from '../image-data';
import type { ImageService } from '../image-service';
import { JobTimeoutError, type Job, type JobOutcome, type JobQueue } from '../jobs/handler';
import type { Catalog } from '../repositories';
import { uuidFromName } from './ids';
import type { ImageFiles } from './image-file';
import type { QemuImg } from './qemu-img';
import { CHECK_TASK, COMPRESS_MESSAGES, type CompressFailure, type CompressRecord } from './reports';
import { hasRoomFor } from './space';

/** What a compress task's input holds. */
export interface CompressInput {
  image_id: string;
  output_name: string;
  /** Queue a check of the output when done, under this requestId (EdgeGallery's slim). */
  recheck_request_id: string | null;
}

export interface CompressRunDeps {
  catalog: Catalog;
  images: ImageService;
  data: ImageDataService;
  files: ImageFiles;
  qemu: QemuImg;
  jobs: JobQueue;
  logger: Logger;
  minFreeSpacePercent: number;
  convertRateLimit: number;
}

/** Share of `rate` the conversion takes; the upload of the output into the store takes the rest. */
const CONVERT_SHARE = 0.9;
/** Least time between two progress writes to the task row (ms). */
const PROGRESS_INTERVAL_MS = 500;

/**
 * One compress: `qemu-img convert -c -O qcow2` of the source's data into a scratch file, then that
 * file stored as a new image (the output) through the one write path: the image record by the
 * image service, its data by `ImageDataService.upload` (ingest pipeline, format inspection,
 * digests). The source is only read. Progress is written to the task row as `rate`.
 *
 * Resumable on any node: the output's id is derived from the job id and an attempt number, so a
 * run that follows a dead one finds what it left: an active output means the work was done; an
 * unfinished one is deleted and the next attempt id is used. Nothing is left behind by a failure.
 */
export async function runCompress(deps: CompressRunDeps, job: Job, signal: AbortSignal): Promise<JobOutcome> {
  const input = job.input as unknown as CompressInput;
  const failed = (reason: CompressFailure, message: string): JobOutcome => ({ status: 'failure', message, result: { reason } satisfies CompressRecord });
  const source = await deps.catalog.images.get(input.image_id);
  if (!source || source.status !== 'active' || source.locations.length === 0) return failed('failed', `Image ${input.image_id} has no active data to compress.`);
  const context = jobContext(job, source);

  const output = await outputSlot(deps, job, context);
  const outputId = output.id;
  if (!output.done) {
    const virtualSize = source.virtualSize ?? source.size ?? 0;
    if (!hasRoomFor(virtualSize, await deps.files.space(), deps.minFreeSpacePercent)) return failed('no_space', COMPRESS_MESSAGES.noSpace);
    const progress = new ProgressWriter(deps.catalog, job.id, deps.logger);
    let created = false;
    try {
      await deps.files.withScratch(async (scratch) => {
        const sourceFile = await deps.files.fileOf(source, scratch, signal);
        const info = await deps.qemu.info(sourceFile, signal);
        if (info.externalFile !== null) throw new Error('The image refers to another file; it is not compressed.');
        const target = path.join(scratch, 'compressed.qcow2');
        await deps.qemu.compress(sourceFile, info.format, target, {
          signal,
          rateLimit: deps.convertRateLimit,
          onProgress: (fraction) => progress.set(fraction * CONVERT_SHARE),
        });
        await deps.images.createImage(context, {
          id: outputId,
          name: input.output_name,
          owner: source.owner,
          visibility: source.visibility,
          diskFormat: 'qcow2',
          containerFormat: 'bare',
        });
        created = true;
        const body = createReadStream(target).pipe(countBytes((bytes, size) => progress.set(CONVERT_SHARE + (1 - CONVERT_SHARE) * (bytes / size)), info.actualSize));
        await deps.data.upload(context, outputId, { body, storeId: source.locations[0].storeId, signal });
      });
    } catch (err) {
      if (created) await deleteQuietly(deps, context, outputId);
      if (signal.reason instanceof JobTimeoutError) return failed('timeout', COMPRESS_MESSAGES.timedOut);
      if (signal.aborted) throw err;
      deps.logger.warn('imageops compress failed', { requestId: job.id, imageId: source.id, error: String(err) });
      return failed('failed', `${COMPRESS_MESSAGES.failed}: ${(err as Error).message}`);
    } finally {
      await progress.stop();
    }
  }
  const record: CompressRecord = { rate: 1, outputImageId: outputId };
  if (input.recheck_request_id) {
    await queueRecheck(deps, job, outputId, input.recheck_request_id);
    record.recheckRequestId = input.recheck_request_id;
  }
  return { status: 'success', message: COMPRESS_MESSAGES.completed, result: record as Record<string, unknown> };
}

/** The job acts for the caller who queued it, with the rights to create an image for the source's owner. */
function jobContext(job: Job, source: Image): RequestContext {
  return { requestId: job.requestId ?? job.id, userId: job.userId, projectId: source.owner, roles: ['admin'], isAdmin: true, readOnly: false };
}

/**
 * The output image id of this run: the first attempt id no earlier run finished with. An active
 * output is the finished work of a run that died before writing its status (`done`); an output
 * stuck half-way (queued, saving) is deleted and the next attempt id taken.
 */
async function outputSlot(deps: CompressRunDeps, job: Job, context: RequestContext): Promise<{ id: string; done: boolean }> {
  for (let attempt = 0; ; attempt++) {
    const id = uuidFromName(`${job.id}/output/${attempt}`);
    const existing = await deps.catalog.images.get(id, { includeDeleted: true });
    if (!existing) return { id, done: false };
    if (existing.status === 'active') return { id, done: true };
    if (existing.status !== 'deleted') await deleteQuietly(deps, context, id);
  }
}

async function deleteQuietly(deps: CompressRunDeps, context: RequestContext, id: string): Promise<void> {
  try {
    await deps.images.deleteImage(context, id);
  } catch (err) {
    deps.logger.error('imageops compress: unfinished output image not deleted', { imageId: id, error: String(err) });
  }
}

/** Queues the check of the output once (a resumed run finds it queued already). */
async function queueRecheck(deps: CompressRunDeps, job: Job, outputId: string, requestId: string): Promise<void> {
  if (await deps.catalog.tasks.get(requestId)) return;
  await deps.jobs.enqueue({ id: requestId, type: CHECK_TASK, owner: job.owner, imageId: outputId, requestId: job.requestId, userId: job.userId, input: { image_id: outputId } });
}

/** Counts bytes passing through, telling `onBytes` the running total against `expected`. */
function countBytes(onBytes: (bytes: number, expected: number) => void, expected: number): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      onBytes(Math.min(bytes, expected), Math.max(expected, 1));
      done(null, chunk);
    },
  });
}

/** Writes the latest rate to the task row, at most every PROGRESS_INTERVAL_MS, one write at a time. */
class ProgressWriter {
  private latest = 0;
  private written = -1;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly catalog: Catalog,
    private readonly taskId: string,
    private readonly logger: Logger,
  ) {}

  set(rate: number): void {
    this.latest = Math.max(this.latest, Math.min(1, rate));
    if (this.timer || this.latest === this.written) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, PROGRESS_INTERVAL_MS);
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.writing;
  }

  private flush(): void {
    const rate = Math.round(this.latest * 1000) / 1000;
    this.written = this.latest;
    this.writing = this.writing
      .then(async () => {
        // only while the job runs: a finished job's result is the runner's to write
        await this.catalog.tasks.update(this.taskId, { result: { rate } }, 'processing');
      })
      .catch((err: unknown) => this.logger.warn('imageops: progress not saved', { taskId: this.taskId, error: String(err) }));
  }
}
