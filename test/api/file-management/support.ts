import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { Response } from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import * as yauzl from 'yauzl';
import type { KnexCatalog } from '../../../src/catalog/knex-catalog';
import type { TestApp } from '../../support/app';
import { openApiChecker } from '../../support/openapi';
import { storeKeys, storeLeftovers, sleep } from '../glance-v2/support/harness';
import { BASE, multipartBody, type FormPart } from './chunk-support';

export { BASE, type FormPart } from './chunk-support';

/** Every answer the file-management tests get is checked against this document first. */
export const spec = openApiChecker(path.resolve(__dirname, '../../../api-spec/file-management.yaml'));

export const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export const UPLOAD_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
export const STORED_KEYS = ['checkStatus', 'fileName', 'imageId', 'msg', 'slimStatus', 'storageMedium', 'uploadTime', 'userId'];

export function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/** The response body as bytes, whatever its type (supertest would parse JSON and text). */
function binary(res: Response, callback: (err: Error | null, body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  (res as unknown as NodeJS.ReadableStream).on('data', (chunk: Buffer) => chunks.push(chunk));
  (res as unknown as NodeJS.ReadableStream).on('end', () => callback(null, Buffer.concat(chunks)));
}

/** Sends a request, checks the answer against the spec, returns it with `body` as JSON (JSON types) or text. */
export async function call(
  http: TestAgent,
  method: 'get' | 'post' | 'delete',
  route: string,
  options: { parts?: readonly FormPart[]; headers?: Record<string, string>; query?: string } = {},
): Promise<{ status: number; headers: Record<string, string>; bytes: Buffer; json: unknown; text: string }> {
  const url = `${BASE}${route}${options.query ?? ''}`;
  let req = http[method](url).set(options.headers ?? {});
  if (options.parts) {
    const { body, contentType } = multipartBody(options.parts);
    req = req.set('Content-Type', contentType).send(body);
  }
  const res = await req.buffer(true).parse(binary);
  const bytes = res.body as Buffer;
  const headers = res.headers as Record<string, string>;
  const text = bytes.toString('utf8');
  const json = /json/.test(headers['content-type'] ?? '') && bytes.length > 0 ? (JSON.parse(text) as unknown) : undefined;
  // JSON goes as text: the checker parses it (an error body is a JSON string literal)
  const checked = json !== undefined || /^text\//.test(headers['content-type'] ?? '') ? text : bytes.length > 0 ? bytes : undefined;
  spec.assertMatchesSpec(method, `${BASE}${route}`, res.status, headers, checked);
  return { status: res.status, headers, bytes, json, text };
}

/** POST /images with the parts in order (`file` last unless given otherwise). */
export function uploadFile(http: TestAgent, fileName: string, data: Buffer, fields: Record<string, string> = { userId: 'user-1', priority: '0' }) {
  return call(http, 'post', '/images', { parts: [...Object.entries(fields).map(([name, value]) => ({ name, value })), { name: 'file', value: data, fileName }] });
}

/** Uploads and returns the reply (asserting 200). */
export async function uploaded(http: TestAgent, fileName: string, data: Buffer, fields?: Record<string, string>): Promise<Record<string, unknown>> {
  const res = await uploadFile(http, fileName, data, fields);
  assert.equal(res.status, 200, res.text);
  return res.json as Record<string, unknown>;
}

/** Asserts upstream's error form: the status and the message as a JSON string literal. */
export function assertError(res: { status: number; text: string; headers: Record<string, string> }, status: number, message: string | RegExp): void {
  assert.equal(res.status, status, res.text);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  const body = JSON.parse(res.text) as unknown;
  assert.equal(typeof body, 'string', res.text);
  if (typeof message === 'string') assert.equal(body, message);
  else assert.match(body as string, message);
}

/** A query's answer, as the spec documents it. */
export interface Details {
  imageId: string;
  fileName: string;
  uploadTime: string;
  userId: string;
  storageMedium: string;
  slimStatus: number;
  compressInfo: { compressStatus: number; compressMsg: string; compressRate: number };
  checkStatusResponse: {
    status: number;
    msg: string;
    checkInfo: { checksum: string; checkResult: number; imageInfo: { filename: string; format: string } & Record<string, string | number> };
  };
}

/** Polls the query until `done` holds (checks and compresses run as jobs). */
export async function waitForDetails(http: TestAgent, id: string, done: (details: Details) => boolean, timeoutMs = 60_000): Promise<Details> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await call(http, 'get', `/images/${id}`);
    assert.equal(res.status, 200, res.text);
    const details = res.json as Details;
    if (done(details)) return details;
    if (Date.now() > deadline) assert.fail(`gave up waiting: ${JSON.stringify(details)}`);
    await sleep(100);
  }
}

/** Live (not deleted) Glance image rows, and every key and unfinished write in the store. */
export async function leftovers(app: TestApp, storeId: string): Promise<{ images: string[]; keys: string[]; unfinished: string[] }> {
  const rows = (await (app.app.catalog as KnexCatalog).knex('images').where({ deleted: false }).select('id')) as Array<{ id: string }>;
  let unfinished: string[] = [];
  for (let i = 0; i < 40; i++) {
    unfinished = await storeLeftovers(app.config, storeId);
    if (unfinished.length === 0) break;
    await sleep(50);
  }
  return { images: rows.map((row) => row.id).sort(), keys: await storeKeys(app.app, storeId), unfinished };
}

/** Asserts the store and the catalog hold exactly what they held before (`before` from `leftovers`). */
export async function assertNothingLeft(app: TestApp, storeId: string, before: { images: string[]; keys: string[] }): Promise<void> {
  const now = await leftovers(app, storeId);
  assert.deepEqual(now.images, before.images, 'image rows left behind');
  assert.deepEqual(now.keys, before.keys, 'objects left behind');
  assert.deepEqual(now.unfinished, [], 'unfinished writes left behind');
}

/** The entries of a zip (name → bytes, compression method), read with yauzl. */
export async function zipEntries(zip: Buffer): Promise<Array<{ name: string; method: number; data: Buffer }>> {
  const zipfile = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.fromBuffer(zip, { lazyEntries: true }, (err, z) => (err ? reject(err) : resolve(z))));
  const out: Array<{ name: string; method: number; data: Buffer }> = [];
  await new Promise<void>((resolve, reject) => {
    zipfile.on('entry', (entry: yauzl.Entry) => {
      zipfile.openReadStream(entry, (err, stream) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          out.push({ name: entry.fileName, method: entry.compressionMethod, data: Buffer.concat(chunks) });
          zipfile.readEntry();
        });
        stream.on('error', reject);
      });
    });
    zipfile.on('end', resolve);
    zipfile.on('error', reject);
    zipfile.readEntry();
  });
  return out;
}
