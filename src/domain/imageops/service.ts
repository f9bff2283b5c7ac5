import type { Logger } from '../../lib/logger';
import type { RequestContext } from '../context';
import { fail, GlintError } from '../errors';
import type { Image } from '../image';
import type { ImageService } from '../image-service';
import type { JobQueue } from '../jobs/handler';
import type { Catalog } from '../repositories';
import type { CheckReport, CompressReport, ImageOps, JobStarted } from './contract';
import { isUuid, uuid1 } from './ids';
import type { ImageFiles } from './image-file';
import { CHECK_STARTED, CHECK_TASK, checkReportOf, COMPRESS_MESSAGES, COMPRESS_TASK, compressReportOf, type CompressRecord } from './reports';
import { hasRoomFor } from './space';

/** The EdgeGallery fileName recorded for an image (its `edgegallery` namespaced attribute), or null. */
export type SaveNameLookup = (imageId: string) => Promise<string | null>;

export interface ImageOpsServiceDeps {
  catalog: Catalog;
  images: ImageService;
  jobs: JobQueue;
  files: ImageFiles;
  logger: Logger;
  minFreeSpacePercent: number;
  /** How long a finished job stays listed (ms): the refused compress's record gets it too. */
  resultTtlMs: number;
  /**
   * Resolves EdgeGallery save names (`<imageId><fileName>`); without it only Glance image ids
   * resolve. Set by the composition root once the file-management surface records fileNames.
   */
  fileNameOf?: SaveNameLookup;
}

/** Longest output name: Glance's image name limit. */
const MAX_NAME = 255;

/**
 * imageops for every surface: check and compress jobs on the node's JobRunner, recorded in the
 * catalog's tasks table under their requestId (a version 1 UUID, the task's id), so any node
 * answers for any job, also after a restart. See ./contract.ts.
 */
export class ImageOpsService implements ImageOps {
  constructor(private readonly deps: ImageOpsServiceDeps) {}

  async resolveInputImage(context: RequestContext, inputImageName: string): Promise<string | null> {
    if (/[/\\\0]/.test(inputImageName) || inputImageName.includes('..')) fail('IMAGEOPS_NAME_INVALID', 'inputImageName is invalid');
    const name = inputImageName.toLowerCase();
    if (isUuid(name)) return (await this.activeImage(context, name))?.id ?? null;
    const imageId = name.slice(0, 36);
    if (inputImageName.length <= 36 || !isUuid(imageId) || !this.deps.fileNameOf) return null;
    const image = await this.activeImage(context, imageId);
    if (!image) return null;
    return (await this.deps.fileNameOf(image.id)) === inputImageName.slice(36) ? image.id : null;
  }

  async startCheck(context: RequestContext, imageId: string): Promise<JobStarted> {
    const image = await this.requireActive(context, imageId, `Given image ${imageId} is not exist.`);
    const requestId = uuid1();
    await this.deps.jobs.enqueue({ id: requestId, type: CHECK_TASK, owner: image.owner, imageId: image.id, requestId: context.requestId, userId: context.userId, input: { image_id: image.id } });
    return { status: 0, msg: CHECK_STARTED, requestId };
  }

  async checkReport(requestId: string): Promise<CheckReport> {
    return checkReportOf(isUuid(requestId) ? await this.deps.catalog.tasks.get(requestId) : null);
  }

  /**
   * Refused at once (status 1, and the record says so for later queries) when the temp
   * directory's filesystem lacks room for the image's virtual size; the job checks again when it
   * starts, since space can go while it waits in the queue.
   */
  async startCompress(context: RequestContext, imageId: string, outputName: string, options: { recheck?: boolean } = {}): Promise<JobStarted> {
    if (outputName.length > MAX_NAME || outputName.includes('\0')) fail('IMAGEOPS_NAME_INVALID', 'outputImageName is invalid');
    const image = await this.requireActive(context, imageId, `Image ${imageId} is not exist.`);
    const requestId = uuid1();
    const job = {
      id: requestId,
      type: COMPRESS_TASK,
      owner: image.owner,
      imageId: image.id,
      requestId: context.requestId,
      userId: context.userId,
      input: { image_id: image.id, output_name: outputName, recheck_request_id: options.recheck ? uuid1() : null },
    };
    if (!hasRoomFor(image.virtualSize ?? image.size ?? 0, await this.deps.files.space(), this.deps.minFreeSpacePercent)) {
      await this.recordRefusal(job);
      return { status: 1, msg: COMPRESS_MESSAGES.noSpace, requestId };
    }
    await this.deps.jobs.enqueue(job);
    return { status: 0, msg: COMPRESS_MESSAGES.inProgress, requestId };
  }

  async compressReport(requestId: string): Promise<CompressReport> {
    return compressReportOf(isUuid(requestId) ? await this.deps.catalog.tasks.get(requestId) : null);
  }

  /** A compress task that ended before it started: no space (a runner that claims it first finds the same). */
  private async recordRefusal(job: Parameters<Catalog['tasks']['create']>[0]): Promise<void> {
    const { tasks } = this.deps.catalog;
    await tasks.create(job);
    const result: CompressRecord = { reason: 'no_space' };
    await tasks.update(job.id, { status: 'failure', message: COMPRESS_MESSAGES.noSpace, result: result as Record<string, unknown>, expiresAt: new Date(Date.now() + this.deps.resultTtlMs) }, 'pending');
  }

  private async activeImage(context: RequestContext, id: string): Promise<Image | null> {
    try {
      const image = await this.deps.images.getImage(context, id);
      return image.status === 'active' ? image : null;
    } catch (err) {
      if (err instanceof GlintError && err.code === 'IMAGE_NOT_FOUND') return null;
      throw err;
    }
  }

  private async requireActive(context: RequestContext, id: string, message: string): Promise<Image> {
    const image = await this.activeImage(context, id);
    if (!image) fail('IMAGEOPS_IMAGE_NOT_FOUND', message);
    return image;
  }
}
