import {
  AbortMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  S3Client,
} from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import S3rver from 's3rver';
import type { S3StoreConfig } from '../../src/config/types';

export interface S3TestServer {
  /** `http://127.0.0.1:<port>`; use path-style addressing. */
  endpoint: string;
  region: string;
  accessKey: string;
  secretKey: string;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

/**
 * Starts s3rver on 127.0.0.1 with a free port and a fresh temp directory.
 *
 * s3rver 3.7.1 lacks a few S3 behaviours the blob-store contract relies on; they are added here,
 * following S3's documented semantics, so the tests exercise the driver rather than the fake:
 * - ListMultipartUploads (`GET /<bucket>?uploads`, with each upload's Initiated time) and
 *   AbortMultipartUpload (`DELETE /<bucket>/<key>?uploadId=`), answered from s3rver's on-disk
 *   upload folders;
 * - `Range: bytes=0-0` (s3rver reads an end of 0 as "no end" and returns the whole object);
 * - atomic PUTs: s3rver writes objects in place, so concurrent writes to one key interleave;
 *   writes to the same key are serialized, as S3's last-writer-wins requires.
 */
export async function startS3Server(): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 'glint-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  addMissingBehaviour(server as unknown as S3rverInternals);
  let address;
  try {
    address = await server.run();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    region: 'us-east-1',
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    async stop() {
      try {
        await server.close();
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    },
  };
}

/** A plain SDK client for inspecting the server directly (listing uploads, creating raw ones). */
export function s3AdminClient(server: S3TestServer): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * Deletes `bucket`; a missing bucket is fine. Real S3 servers refuse to delete a bucket that holds
 * objects or multipart uploads (BucketNotEmpty, which Ceph RGW sends with no message: errors are
 * told apart by name): one that a failed test left them in is emptied first.
 */
export async function deleteBucket(client: S3Client, bucket: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      return;
    } catch (err) {
      const name = err instanceof Error ? err.name : undefined;
      if (name === 'NoSuchBucket') return;
      if (name !== 'BucketNotEmpty' || attempt > 1) throw err;
    }
    await emptyBucket(client, bucket);
  }
}

/** Aborts every multipart upload in `bucket` and deletes every object. */
async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const { Key, UploadId } of uploads.Uploads ?? []) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }));
  }
  for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket })) {
    for (const { Key } of page.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
  }
}

/**
 * The keys of a glance_store / store section reaching `bucket` on the test server, as INI lines:
 * created on first write, checksums only when required (s3rver and RGW), path-style addressing.
 */
export function s3StoreIniLines(server: S3TestServer, bucket: string): string[] {
  return [
    `s3_store_host = ${server.endpoint}`,
    `s3_store_access_key = ${server.accessKey}`,
    `s3_store_secret_key = ${server.secretKey}`,
    `s3_store_bucket = ${bucket}`,
    's3_store_create_bucket_on_put = true',
    's3_store_bucket_url_format = path',
    's3_store_checksum_mode = when_required',
  ];
}

/** Store configuration for `bucket` on the test server. */
export function s3StoreConfig(server: S3TestServer, bucket: string, overrides: Partial<S3StoreConfig> = {}): S3StoreConfig {
  return {
    id: 's3',
    type: 's3',
    description: null,
    endpoint: server.endpoint,
    region: server.region,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
    bucket,
    createBucketOnPut: true,
    forcePathStyle: true,
    largeObjectSize: 5 * 1024 * 1024,
    partSize: 5 * 1024 * 1024,
    concurrency: 4,
    checksumMode: 'when_required',
    ...overrides,
  };
}

/** The s3rver 3.7.1 internals patched below: its Koa middleware list and its filesystem store. */
interface S3rverInternals {
  middleware: Array<(ctx: KoaContext, next: () => Promise<void>) => Promise<void>>;
  store: {
    getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<S3rverObject | null>;
    putObject(object: { bucket: string; key: string }): Promise<unknown>;
    getResourcePath(bucket: string, key: string | undefined, resource: string): string;
    getBucketPath(bucket: string): string;
  };
}

interface S3rverObject {
  content: Readable | null;
  range?: { start: number; end: number };
  readonly size: number;
}

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}

function addMissingBehaviour(server: S3rverInternals): void {
  const { store } = server;
  const uploadsDir = (bucket: string): string => store.getResourcePath(bucket, undefined, 'uploads');

  server.middleware.unshift(async (ctx, next) => {
    const bucketPath = /^\/([^/]+)\/?$/.exec(ctx.path);
    if (ctx.method === 'GET' && bucketPath && 'uploads' in ctx.query) {
      await listMultipartUploads(ctx, decodeURIComponent(bucketPath[1]));
      return;
    }
    const objectPath = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
    const uploadId = ctx.query.uploadId;
    if (ctx.method === 'DELETE' && objectPath && typeof uploadId === 'string') {
      await abortMultipartUpload(ctx, decodeURIComponent(objectPath[1]), uploadId);
      return;
    }
    await next();
  });

  async function listMultipartUploads(ctx: KoaContext, bucket: string): Promise<void> {
    if (!(await exists(store.getBucketPath(bucket)))) {
      sendError(ctx, 404, 'NoSuchBucket', 'The specified bucket does not exist');
      return;
    }
    const ids = await readdir(uploadsDir(bucket)).catch(() => []);
    const uploads = await Promise.all(
      ids.map(async (id) => {
        // a folder without its key file is still an upload left behind
        const key = await readFile(join(uploadsDir(bucket), id, 'key'), 'utf8').catch(() => '');
        // S3 reports when the upload was initiated: the folder's creation
        const initiated = await stat(join(uploadsDir(bucket), id)).then(
          (info) => `<Initiated>${info.birthtime.getTime() > 0 ? info.birthtime.toISOString() : info.ctime.toISOString()}</Initiated>`,
          () => '',
        );
        return `<Upload><Key>${escapeXml(key)}</Key><UploadId>${escapeXml(id)}</UploadId>${initiated}</Upload>`;
      }),
    );
    sendXml(
      ctx,
      200,
      `<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${escapeXml(bucket)}</Bucket>` +
        `<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`,
    );
  }

  async function abortMultipartUpload(ctx: KoaContext, bucket: string, uploadId: string): Promise<void> {
    const dir = join(uploadsDir(bucket), uploadId);
    if (!/^[0-9a-f]+$/.test(uploadId) || !(await exists(dir))) {
      sendError(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist.');
      return;
    }
    await rm(dir, { recursive: true, force: true });
    ctx.status = 204;
  }

  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    if (options?.end !== 0) return getObject(bucket, key, options);
    const object = await getObject(bucket, key, { start: options.start });
    if (object?.content) {
      object.content.destroy();
      object.content = object.size === 0 ? null : createReadStream(store.getResourcePath(bucket, key, 'object'), { start: 0, end: 0 });
      object.range = { start: 0, end: 0 };
    }
    return object;
  };

  const putObject = store.putObject.bind(store);
  const writes = new Map<string, Promise<unknown>>();
  store.putObject = (object) => {
    const id = `${object.bucket}/${object.key}`;
    const write = (writes.get(id) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => putObject(object));
    writes.set(id, write);
    const forget = (): void => {
      if (writes.get(id) === write) writes.delete(id);
    };
    write.then(forget, forget);
    return write;
  };
}

function sendXml(ctx: KoaContext, status: number, xml: string): void {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n${xml}`;
}

function sendError(ctx: KoaContext, status: number, code: string, message: string): void {
  sendXml(ctx, status, `<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
