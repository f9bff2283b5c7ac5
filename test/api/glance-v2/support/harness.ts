import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import type { Response } from 'supertest';
import type { GlintApp } from '../../../../src/app';
import type { GlintConfig } from '../../../../src/config/types';
import { startTestApp, type TestApp } from '../../../support/app';
import { RGW_START_TIMEOUT_MS, sharedRgw } from '../../../support/rgw';
import { s3AdminClient, s3StoreIniLines, startS3Server, type S3TestServer } from '../../../support/s3';
import { randomData } from '../../../support/random-data';

/**
 * Helpers shared by the Glance v2 API tests: a few request shortcuts, data digests computed with
 * node's crypto (never with glint's own code), polling, raw HTTP for disconnects, and the store
 * variants every data-path test runs on (filesystem, S3 through s3rver, S3 on Ceph RGW).
 */

export type Headers = Record<string, string>;

export const RAW_BARE = { disk_format: 'raw', container_format: 'bare' };
export const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
export const REQUEST_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

export function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

export function sha512(data: Buffer): string {
  return createHash('sha512').update(data).digest('hex');
}

export function bytes(n: number): Buffer {
  return randomData(n);
}

/** The 10 bytes the range tests use: `0123456789`. */
export const TEN = Buffer.from('0123456789');

export async function createImage(app: TestApp, body: Record<string, unknown> = RAW_BARE, headers: Headers = {}): Promise<Record<string, unknown>> {
  const res = await app.http.post('/v2/images').set(headers).send(body);
  assert.equal(res.status, 201, `create failed: ${res.status} ${res.text}`);
  return res.body as Record<string, unknown>;
}

export async function getImage(app: TestApp, id: string, headers: Headers = {}): Promise<Record<string, unknown>> {
  const res = await app.http.get(`/v2/images/${id}`).set(headers);
  assert.equal(res.status, 200, `get failed: ${res.status} ${res.text}`);
  return res.body as Record<string, unknown>;
}

export const PATCH_V21 = 'application/openstack-images-v2.1-json-patch';
export const PATCH_V20 = 'application/openstack-images-v2.0-json-patch';

/** PATCH with a JSON-patch document (v2.1 media type unless told otherwise). */
export function patchImage(app: TestApp, id: string, operations: unknown, headers: Headers = {}, mediaType = PATCH_V21): Promise<Response> {
  return app.http
    .patch(`/v2/images/${id}`)
    .set({ 'Content-Type': mediaType, ...headers })
    .send(JSON.stringify(operations));
}

export function upload(app: TestApp, id: string, data: Buffer, headers: Headers = {}): Promise<Response> {
  return app.http
    .put(`/v2/images/${id}/file`)
    .set({ 'Content-Type': 'application/octet-stream', ...headers })
    .send(data);
}

export function stage(app: TestApp, id: string, data: Buffer, headers: Headers = {}): Promise<Response> {
  return app.http
    .put(`/v2/images/${id}/stage`)
    .set({ 'Content-Type': 'application/octet-stream', ...headers })
    .send(data);
}

/** Creates a raw/bare image and uploads `data` to it; returns the active image. */
export async function activeImage(app: TestApp, data: Buffer, body: Record<string, unknown> = {}, headers: Headers = {}): Promise<Record<string, unknown>> {
  const image = await createImage(app, { ...RAW_BARE, ...body }, headers);
  const res = await upload(app, image.id as string, data, headers);
  assert.equal(res.status, 204, `upload failed: ${res.status} ${res.text}`);
  return getImage(app, image.id as string, headers);
}

/** Downloads with a binary parser so the body is always a Buffer. */
export function download(app: TestApp, id: string, headers: Headers = {}): Promise<Response> {
  return app.http
    .get(`/v2/images/${id}/file`)
    .set(headers)
    .buffer(true)
    .parse((res, callback) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => callback(null, Buffer.concat(chunks)));
    });
}

/** Polls the image until `done` holds; fails after `timeoutMs`. */
export async function waitForImage(
  app: TestApp,
  id: string,
  done: (image: Record<string, unknown>) => boolean,
  options: { timeoutMs?: number; headers?: Headers } = {},
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let last: Record<string, unknown> | undefined;
  while (Date.now() < deadline) {
    const res = await app.http.get(`/v2/images/${id}`).set(options.headers ?? {});
    if (res.status === 200) {
      last = res.body as Record<string, unknown>;
      if (done(last)) return last;
    }
    await sleep(50);
  }
  assert.fail(`image ${id} did not reach the expected state in time; last seen: ${JSON.stringify(last)}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Every committed key of a store. */
export async function storeKeys(app: GlintApp, storeId: string): Promise<string[]> {
  const store = app.stores.get(storeId);
  assert.ok(store, `store ${storeId} is not configured`);
  const keys: string[] = [];
  for await (const key of store.list()) keys.push(key);
  return keys.sort();
}

/**
 * What a store keeps besides committed keys while or after writing: the filesystem driver's temp
 * files, S3 multipart uploads. Used to check that failed uploads leave nothing behind.
 */
export async function storeLeftovers(config: GlintConfig, storeId: string): Promise<string[]> {
  const storeConfig = config.stores.stores.find((s) => s.id === storeId);
  assert.ok(storeConfig, `store ${storeId} is not configured`);
  if (storeConfig.type === 'file') {
    return readdir(join(storeConfig.dataDir, '.tmp')).catch(() => []);
  }
  const client = s3AdminClient({
    endpoint: storeConfig.endpoint,
    region: storeConfig.region,
    accessKey: storeConfig.accessKey,
    secretKey: storeConfig.secretKey,
    stop: async () => {},
  });
  try {
    const out = await client.send(new ListMultipartUploadsCommand({ Bucket: storeConfig.bucket }));
    return (out.Uploads ?? []).map((u) => `${u.Key}#${u.UploadId}`);
  } catch (err) {
    if ((err as Error).name === 'NoSuchBucket') return [];
    throw err;
  } finally {
    client.destroy();
  }
}

/** Asserts a store holds nothing for `imageId` (committed or in progress). */
/** What a failed upload leaves: the image back to queued without a size, and no data of it in the store. */
export async function assertBackToQueued(app: TestApp, storeId: string, image: Record<string, unknown>): Promise<void> {
  assert.equal(image.status, 'queued');
  assert.equal(image.size, null);
  await assertNoDataFor(app, storeId, image.id as string);
}

export async function assertNoDataFor(app: TestApp, storeId: string, imageId: string): Promise<void> {
  const keys = (await storeKeys(app.app, storeId)).filter((k) => k.includes(imageId));
  assert.deepEqual(keys, [], `store ${storeId} still holds data of ${imageId}`);
  // in-progress state disappears asynchronously after a failure; give it a moment
  let left: string[] = [];
  for (let i = 0; i < 40; i++) {
    left = await storeLeftovers(app.config, storeId);
    if (left.length === 0) return;
    await sleep(50);
  }
  assert.deepEqual(left, [], `store ${storeId} has unfinished writes left`);
}

// ---- raw HTTP ----------------------------------------------------------------------------------

export interface Listening {
  port: number;
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The app on a real loopback port, for requests supertest cannot make (half-sent bodies). */
export async function listen(app: TestApp): Promise<Listening> {
  const server = createServer(app.app.koa.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface RawUpload {
  /** Writes more body bytes. */
  write(data: Buffer): Promise<void>;
  /** Ends the body and resolves with the response status and text. */
  finish(data?: Buffer): Promise<{ status: number; body: string; headers: IncomingMessage['headers'] }>;
  /** Resolves with the response if the server answers before the body is complete. */
  response: Promise<{ status: number; body: string; headers: IncomingMessage['headers'] }>;
  /** Drops the connection without finishing the body. */
  abort(): void;
}

/** Starts a PUT whose body is sent piece by piece (chunked unless a Content-Length is given). */
export function rawPut(target: Listening, path: string, headers: Headers = {}): RawUpload {
  const req = httpRequest({
    host: '127.0.0.1',
    port: target.port,
    method: 'PUT',
    path,
    headers: { 'Content-Type': 'application/octet-stream', ...headers },
  });
  req.on('error', () => {});
  const response = new Promise<{ status: number; body: string; headers: IncomingMessage['headers'] }>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
  });
  response.catch(() => {});
  req.flushHeaders();
  return {
    write: (data) => new Promise((resolve, reject) => req.write(data, (err) => (err ? reject(err) : resolve()))),
    finish: (data) => {
      req.end(data);
      return response;
    },
    response,
    abort: () => req.destroy(),
  };
}

/** Sends `head` (request line and headers, no body) on a bare socket and returns the status. */
export function rawRequest(target: Listening, head: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(target.port, '127.0.0.1', () => socket.write(head));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
  });
}

// ---- store variants ----------------------------------------------------------------------------

/** One store configuration the data-path tests run on. */
export interface StoreVariant {
  name: string;
  /** Id of the store data lands in by default. */
  storeId: string;
  /** Builds an app: `defaults` go to [DEFAULT], `sections` are appended verbatim. */
  start(options?: { defaults?: string; sections?: string; env?: Record<string, string> }): Promise<TestApp>;
}

let bucketCounter = 0;
function freshBucket(): string {
  bucketCounter += 1;
  return `glint-${process.pid}-${bucketCounter}`;
}

function s3Section(server: S3TestServer, bucket: string): string {
  return (
    `${s3StoreIniLines(server, bucket).join('\n')}\n` +
    // the S3 minimum, so an 11 MiB upload already takes the multipart path
    's3_store_large_object_chunk_size = 5\n'
  );
}

function iniOf(defaults: string, storeSections: string, extra: string): string {
  return `[DEFAULT]\n${defaults}\n${storeSections}\n${extra}\n`;
}

/** An S3 server the S3 variants run on. */
interface S3Backend {
  /** Suffix of the variant's name. */
  name: string;
  /** In the variant's title. */
  title: string;
  start(): Promise<S3TestServer>;
  startTimeout: number;
}

const S3RVER: S3Backend = { name: '', title: 'S3', start: startS3Server, startTimeout: 30_000 };
/**
 * A real S3 server (strict part sizes, error codes without messages); one cluster per mocha
 * process, started by the first suite that needs it and stopped by the global teardown.
 */
const RGW: S3Backend = { name: '-rgw', title: 'S3 on Ceph RGW', start: sharedRgw, startTimeout: RGW_START_TIMEOUT_MS };

/** `before`/`after` hooks that give the enclosing block a server of `backend`; returns its getter. */
function useS3Server(backend: S3Backend): () => S3TestServer {
  let server: S3TestServer | undefined;
  before(async function () {
    this.timeout(backend.startTimeout);
    server = await backend.start();
  });
  after(async function () {
    await server?.stop();
  });
  return () => {
    assert.ok(server, `the ${backend.title} server did not start`);
    return server;
  };
}

/**
 * Registers `body` once per single-store variant: the filesystem store, an S3 store on s3rver and
 * an S3 store on Ceph RGW. The s3rver server starts before its block and stops after it; RGW is
 * the process's shared cluster.
 */
export function forEachStore(title: string, body: (variant: StoreVariant) => void): void {
  describe(`${title} [filesystem store]`, function () {
    body({
      name: 'filesystem',
      storeId: 'file',
      start: (o = {}) => startTestApp(iniOf(o.defaults ?? '', '', o.sections ?? ''), o.env),
    });
  });
  for (const backend of [S3RVER, RGW]) {
    describe(`${title} [${backend.title} store]`, function () {
      const server = useS3Server(backend);
      body({
        name: `s3${backend.name}`,
        storeId: 's3',
        start: (o = {}) => {
          const sections = `[glance_store]\ndefault_store = s3\n${s3Section(server(), freshBucket())}`;
          return startTestApp(iniOf(o.defaults ?? '', sections, o.sections ?? ''), o.env);
        },
      });
    });
  }
}

/** A multi-store variant: `fast` (filesystem) and `cold` (S3); `defaultStore` picks the default. */
export interface MultiStoreVariant extends StoreVariant {
  /** The other store. */
  otherStoreId: string;
}

/**
 * Registers `body` once per multi-store variant: default `fast` and default `cold` with `cold` on
 * s3rver, and default `cold` with `cold` on Ceph RGW (with default `fast`, S3 sees little traffic).
 */
export function forEachMultiStoreDefault(title: string, body: (variant: MultiStoreVariant) => void): void {
  const variants = [
    { defaultStore: 'fast', backend: S3RVER },
    { defaultStore: 'cold', backend: S3RVER },
    { defaultStore: 'cold', backend: RGW },
  ] as const;
  for (const { defaultStore, backend } of variants) {
    const which = defaultStore === 'fast' ? 'fast = filesystem' : `cold = ${backend.title}`;
    describe(`${title} [multi-store, default ${which}]`, function () {
      const server = useS3Server(backend);
      body({
        name: `multi-${defaultStore}${backend.name}`,
        storeId: defaultStore,
        otherStoreId: defaultStore === 'fast' ? 'cold' : 'fast',
        start: (o = {}) => startTestApp(multiStoreIni(server(), defaultStore, o.defaults ?? '', o.sections ?? ''), o.env),
      });
    });
  }
}

export function multiStoreIni(server: S3TestServer, defaultStore: string, defaults = '', extra = ''): string {
  const sections =
    `[glance_store]\ndefault_backend = ${defaultStore}\n[fast]\ndescription = Fast local disk\nfilesystem_store_datadir = {dir}/fast\n` +
    `[cold]\n${s3Section(server, freshBucket())}`;
  return iniOf(`enabled_backends = fast:file, cold:s3\n${defaults}`, sections, extra);
}
