import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Response } from 'supertest';
import { startTestApp, type TestApp } from '../../support/app';
import { createTestDatabase, type TestDatabase } from '../../support/mysql';
import { openApiChecker } from '../../support/openapi';

/**
 * Helpers of the algoPlatform API tests: every response they get is checked against
 * api-spec/algoplatform.yaml first; every suite runs on SQLite and on MariaDB.
 */

export const spec = openApiChecker(path.resolve(__dirname, '../../../api-spec/algoplatform.yaml'));

export const BASE = '/algoPlatform/images';
export type Operation = '_register' | '_search' | '_update' | '_delete' | '_load' | '_upload';
export type Json = Record<string, unknown>;

export interface Envelope {
  status: string;
  res: unknown;
  msg: string | null;
}

export interface Variant {
  name: 'sqlite' | 'mariadb';
  /** A glint on a catalog of its own; `ini` as startTestApp takes it. Closed by the variant's `after`. */
  start(ini?: string, env?: Record<string, string>, options?: Parameters<typeof startTestApp>[2]): Promise<TestApp>;
}

/** Registers `body` once on in-memory SQLite and once on MariaDB (a database per app, dropped after). */
export function forEachCatalog(title: string, body: (variant: Variant) => void): void {
  for (const name of ['sqlite', 'mariadb'] as const) {
    describe(`${title} [${name === 'sqlite' ? 'SQLite' : 'MariaDB'}]`, function () {
      const apps: TestApp[] = [];
      const databases: TestDatabase[] = [];
      after(async function () {
        await Promise.all(apps.splice(0).map((app) => app.close()));
        await Promise.all(databases.splice(0).map((database) => database.drop()));
      });
      body({
        name,
        async start(ini = '', env = {}, options = {}) {
          let connection: Record<string, string> = {};
          if (name === 'mariadb') {
            const database = await createTestDatabase();
            databases.push(database);
            connection = { GLINT_DATABASE_CONNECTION: database.config.url };
          }
          const app = await startTestApp(ini, { ...env, ...connection }, options);
          apps.push(app);
          return app;
        },
      });
    });
  }
}

export interface Sent {
  headers?: Record<string, string>;
  /** Sent as the raw body (JSON text or anything else) with `type`. */
  raw?: string | Buffer;
  type?: string;
  query?: string;
}

/** POST `body` (JSON) to an operation; the answer must match the spec. */
export async function post(app: TestApp, operation: Operation | string, body?: unknown, sent: Sent = {}): Promise<Response> {
  const url = `${BASE}/${operation}${sent.query ? `?${sent.query}` : ''}`;
  let req = app.http.post(url).set(sent.headers ?? {});
  if (sent.raw !== undefined) req = req.type(sent.type ?? 'application/json').send(sent.raw);
  else if (body !== undefined) req = req.type('application/json').send(JSON.stringify(body));
  const res = await req;
  checkSpec('post', url, res);
  return res;
}

/** `_upload` with `file` as the multipart `file` part. */
export async function upload(app: TestApp, file: string | Buffer, headers: Record<string, string> = {}): Promise<Response> {
  const res = await app.http
    .post(`${BASE}/_upload`)
    .set(headers)
    .attach('file', Buffer.isBuffer(file) ? file : Buffer.from(file), { filename: 'image_list.json', contentType: 'application/json' });
  checkSpec('post', `${BASE}/_upload`, res);
  return res;
}

export function checkSpec(method: string, url: string, res: Response): void {
  spec.assertMatchesSpec(method, url, res.status, res.headers as Record<string, string>, res.body);
}

/** The envelope of a 200 answer, with exactly the three keys in order and status a string. */
export function envelope(res: Response, httpStatus = 200): Envelope {
  assert.equal(res.status, httpStatus, `HTTP ${res.status}: ${res.text}`);
  const body = JSON.parse(res.text) as Envelope;
  assert.deepEqual(Object.keys(body), ['status', 'res', 'msg'], res.text);
  assert.equal(typeof body.status, 'string', res.text);
  return body;
}

export function expectOutcome(res: Response, status: string, msg?: string): Envelope {
  const body = envelope(res);
  assert.equal(body.status, status, res.text);
  if (msg !== undefined) assert.equal(body.msg, msg, res.text);
  return body;
}

let counter = 0;
/** A name no other test uses: `algo/<stem>-<n>`. */
export function uniqueName(stem: string): string {
  counter += 1;
  return `algo/${stem}-${counter}`;
}

/** The smallest body _register accepts (algoType 1: no frame settings needed). */
export function minimal(overrides: Json = {}): Json {
  return { imageName: uniqueName('min'), imageTag: '1.0', factory: 'ehl', algoName: 'demo', algoType: '1', ...overrides };
}

/** A self-developed (algoType 0) body with its frame settings. */
export function selfDeveloped(overrides: Json = {}): Json {
  return minimal({ algoType: '0', frameInterval: 5, frameNumber: 10, ...overrides });
}

export async function register(app: TestApp, body: Json): Promise<void> {
  expectOutcome(await post(app, '_register', body), '0', '注册成功');
}

/** The live records whose name contains `text`. */
export async function searchRecords(app: TestApp, query: { namespace?: string; searchCondition?: string }): Promise<Json[]> {
  const body = expectOutcome(await post(app, '_search', query), '0', '查询成功');
  const data = (body.res as { data: Json[] | string }).data;
  return typeof data === 'string' ? [] : data;
}

/** The live record named `name`:`tag`. */
export async function recordOf(app: TestApp, name: string, tag = '1.0'): Promise<Json> {
  const found = (await searchRecords(app, { searchCondition: name })).filter((r) => r.imageName === name && r.imageTag === tag);
  assert.equal(found.length, 1, `expected one live ${name}:${tag}, found ${found.length}`);
  return found[0];
}
