import {
  AbortMultipartUploadCommand,
  type BucketLocationConstraint,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import type { S3StoreConfig } from '../config/types';
import {
  assertValidKey,
  StoreError,
  type BlobReadResult,
  type BlobStore,
  type ByteRange,
  type PutOptions,
  type PutResult,
  type S3StoreDetails,
  type SweepOptions,
} from './blob-store';
import { abortedError, pipeMeasured, type MeasureStream } from './measure';

const MiB = 1024 * 1024;
/** S3 rejects non-final parts below 5 MiB. */
export const MIN_PART_SIZE = 5 * MiB;
/** S3 allows at most 10,000 parts per multipart upload. */
const MAX_PARTS = 10_000;

type S3Operation = 'put' | 'get' | 'stat' | 'delete' | 'list' | 'bucket' | 'sweep';

/**
 * Objects live at `<bucket>/<key>`. Puts go through lib-storage's Upload: one PutObject when the
 * whole body fits in one part, otherwise a multipart upload. Neither makes anything visible before
 * it succeeds (PutObject is atomic, a multipart object appears at CompleteMultipartUpload), and
 * Upload aborts the multipart upload on any failure, including one of the body, after its
 * in-flight parts settle. `largeObjectSize` is therefore only reported: the switch to multipart
 * happens at one part size.
 *
 * Memory: Upload holds up to `concurrency` parts in flight plus the one being filled, each
 * `partSize` bytes and copied at least once on the way, so Glance's defaults (10 × 10 MiB) cost
 * 100–250 MB of RSS per upload. A queue of 2–4 parts bounds that to a few tens of MB; on a nearby
 * endpoint throughput barely changes (s3rver on loopback: the same MiB/s at 2, 4 and 10), while a
 * high-latency one needs the deeper queue to keep its bandwidth busy.
 */
export class S3Store implements BlobStore {
  readonly id: string;
  readonly type = 's3' as const;
  readonly description?: string;
  private readonly config: S3StoreConfig;
  private readonly client: S3Client;
  private bucketReady: Promise<void> | undefined;

  constructor(config: S3StoreConfig) {
    if (config.partSize < MIN_PART_SIZE) {
      throw new StoreError('unavailable', `part size ${config.partSize} is below the S3 minimum of ${MIN_PART_SIZE} bytes`, config.id);
    }
    if (!Number.isInteger(config.concurrency) || config.concurrency < 1) {
      throw new StoreError('unavailable', `concurrency must be a positive integer, got ${config.concurrency}`, config.id);
    }
    this.id = config.id;
    this.description = config.description ?? undefined;
    this.config = config;
    const checksums = config.checksumMode === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
    this.client = new S3Client({
      endpoint: config.endpoint,
      region: config.region,
      credentials: { accessKeyId: config.accessKey, secretAccessKey: config.secretKey },
      forcePathStyle: config.forcePathStyle,
      requestChecksumCalculation: checksums,
      responseChecksumValidation: checksums,
    });
  }

  async put(key: string, source: Readable, options: PutOptions = {}): Promise<PutResult> {
    assertValidKey(key, this.id);
    if (options.signal?.aborted) throw abortedError(this.id);
    if (this.config.createBucketOnPut) await this.ensureBucket();
    const partSize = this.partSizeFor(options.expectedSize);
    return pipeMeasured(source, (body) => this.upload(key, body, partSize), { ...options, storeId: this.id });
  }

  async get(key: string, range?: ByteRange): Promise<BlobReadResult> {
    assertValidKey(key, this.id);
    if (range !== undefined && !isWellFormed(range)) {
      throw new RangeError(`byte range ${range.start}-${range.end} is not well-formed`);
    }
    let response;
    try {
      response = await this.client.send(
        new GetObjectCommand({ Bucket: this.config.bucket, Key: key, Range: range && `bytes=${range.start}-${range.end}` }),
      );
    } catch (err) {
      if (errorName(err) === 'InvalidRange' || httpStatus(err) === 416) {
        throw new RangeError(`byte range ${range?.start}-${range?.end} is not within ${JSON.stringify(key)}`, { cause: err });
      }
      throw this.mapError(err, 'get', key);
    }
    const body = response.Body;
    if (!(body instanceof Readable)) {
      throw new StoreError('unavailable', `get ${JSON.stringify(key)}: response has no readable body`, this.id);
    }
    const length = response.ContentLength ?? 0;
    if (range === undefined) return { body, length, totalSize: length };

    // S3 shortens a range that runs past the end instead of failing; the contract says it is invalid.
    const served = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.ContentRange ?? '');
    const totalSize = served ? Number(served[3]) : undefined;
    if (totalSize !== undefined && range.end >= totalSize) {
      body.destroy();
      throw new RangeError(`byte range ${range.start}-${range.end} is not within an object of ${totalSize} bytes`);
    }
    if (!served || Number(served[1]) !== range.start || Number(served[2]) !== range.end || length !== range.end - range.start + 1) {
      body.destroy();
      throw new StoreError('unavailable', `get ${JSON.stringify(key)}: endpoint answered range ${response.ContentRange} for ${range.start}-${range.end}`, this.id);
    }
    return { body, length, totalSize: totalSize as number };
  }

  async stat(key: string): Promise<{ size: number }> {
    assertValidKey(key, this.id);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: key }));
      return { size: head.ContentLength ?? 0 };
    } catch (err) {
      throw this.mapError(err, 'stat', key);
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key, this.id);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
    } catch (err) {
      if (httpStatus(err) === 404) return;
      throw this.mapError(err, 'delete', key);
    }
  }

  async *list(prefix?: string): AsyncIterable<string> {
    try {
      for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.config.bucket, Prefix: prefix })) {
        for (const object of page.Contents ?? []) {
          if (object.Key !== undefined) yield object.Key;
        }
      }
    } catch (err) {
      // a bucket that createBucketOnPut has not made yet holds nothing
      if (errorName(err) === 'NoSuchBucket') return;
      throw this.mapError(err, 'list', prefix ?? '');
    }
  }

  async lastModified(key: string): Promise<Date> {
    assertValidKey(key, this.id);
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: key }));
      if (head.LastModified === undefined) throw new StoreError('unavailable', `stat ${JSON.stringify(key)}: no Last-Modified in the answer`, this.id);
      return head.LastModified;
    } catch (err) {
      throw this.mapError(err, 'stat', key);
    }
  }

  /** Aborts multipart uploads initiated before `olderThan` (S3 keeps them, and bills them, until then). */
  async sweepTemporary({ olderThan, inUse }: SweepOptions): Promise<number> {
    const { bucket } = this.config;
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      } catch (err) {
        if (errorName(err) === 'NoSuchBucket') return removed;
        throw this.mapError(err, 'sweep', bucket);
      }
      for (const upload of page.Uploads ?? []) {
        const { Key: key, UploadId: uploadId, Initiated: initiated } = upload;
        // an upload of unknown age is left alone
        if (key === undefined || uploadId === undefined || initiated === undefined || initiated >= olderThan) continue;
        if (inUse && (await inUse(key))) continue;
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
          removed++;
        } catch (err) {
          if (errorName(err) !== 'NoSuchUpload' && httpStatus(err) !== 404) throw this.mapError(err, 'sweep', key);
        }
      }
      if (!page.IsTruncated) return removed;
      keyMarker = page.NextKeyMarker;
      uploadIdMarker = page.NextUploadIdMarker;
    }
  }

  details(): S3StoreDetails {
    const { endpoint, bucket, largeObjectSize, partSize, concurrency } = this.config;
    return { type: 's3', endpoint, bucket, largeObjectSize, partSize, concurrency };
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private async upload(key: string, body: MeasureStream, partSize: number): Promise<void> {
    // After one part fails, Upload's other part uploaders go on reading the body until it ends, so
    // a client still sending (or stalled) would hold the put open while S3 is away. The first
    // failed request ends the body instead, and the put settles at once.
    const client = onFailedRequest(this.client, (err) => body.destroy(this.mapError(err, 'put', key)));
    try {
      const upload = new Upload({
        client,
        params: { Bucket: this.config.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' },
        partSize,
        queueSize: this.config.concurrency,
        leavePartsOnError: false,
      });
      await upload.done();
    } catch (err) {
      // the upload only relays a failure of the body (source error, size limit, abort)
      if (body.errored !== null) throw body.errored;
      throw this.mapError(err, 'put', key);
    }
  }

  /** Grows parts (in whole MiB) when a declared size would need more than 10,000 of them. */
  private partSizeFor(expectedSize: number | undefined): number {
    if (expectedSize === undefined) return this.config.partSize;
    return Math.max(this.config.partSize, Math.ceil(expectedSize / MAX_PARTS / MiB) * MiB);
  }

  /** Shared by concurrent puts; a failure is not cached, so the next put tries again. */
  private ensureBucket(): Promise<void> {
    this.bucketReady ??= this.createBucketIfMissing().catch((err: unknown) => {
      this.bucketReady = undefined;
      throw err;
    });
    return this.bucketReady;
  }

  private async createBucketIfMissing(): Promise<void> {
    const { bucket, region } = this.config;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return;
    } catch (err) {
      if (httpStatus(err) !== 404) throw this.mapError(err, 'bucket', bucket);
    }
    try {
      await this.client.send(
        new CreateBucketCommand({
          Bucket: bucket,
          CreateBucketConfiguration: region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint },
        }),
      );
    } catch (err) {
      // another writer created it first; BucketAlreadyExists is what S3-compatible servers say to the
      // owner too, and a bucket that is truly someone else's fails the put itself with AccessDenied
      const name = errorName(err);
      if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return;
      throw this.mapError(err, 'bucket', bucket);
    }
  }

  private mapError(err: unknown, operation: S3Operation, key: string): StoreError {
    if (err instanceof StoreError) return err;
    const name = errorName(err);
    const status = httpStatus(err);
    const what = operation === 'bucket' ? `bucket ${JSON.stringify(key)}` : `${operation} ${JSON.stringify(key)} in bucket ${this.config.bucket}`;
    const detail = `${what}: ${errnoCode(err) ?? name ?? String(err)}${status ? ` (HTTP ${status})` : ''}`;
    if ((operation === 'get' || operation === 'stat') && (name === 'NoSuchKey' || name === 'NotFound' || status === 404)) {
      return new StoreError('not_found', `no object under ${JSON.stringify(key)}`, this.id, { cause: err });
    }
    if ((operation === 'put' || operation === 'delete' || operation === 'bucket') && (name === 'AccessDenied' || status === 403)) {
      return new StoreError('write_denied', detail, this.id, { cause: err });
    }
    return new StoreError('unavailable', detail, this.id, { cause: err });
  }
}

/** `client`, telling `onFailure` of every request that fails (after the SDK's own retries). */
function onFailedRequest(client: S3Client, onFailure: (err: unknown) => void): S3Client {
  return new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
      return (...args: Parameters<S3Client['send']>) =>
        (target.send as (...a: Parameters<S3Client['send']>) => Promise<unknown>)(...args).catch((err: unknown) => {
          onFailure(err);
          throw err;
        });
    },
  });
}

function isWellFormed({ start, end }: ByteRange): boolean {
  return Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && end >= start;
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return undefined;
  const metadata = err.$metadata as { httpStatusCode?: number } | undefined;
  return metadata?.httpStatusCode;
}
