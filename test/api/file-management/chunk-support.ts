import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import type TestAgent from 'supertest/lib/agent';
import type { Response } from 'supertest';
import type { GlintApp } from '../../../src/app';
import type { KnexCatalog } from '../../../src/catalog/knex-catalog';
import { openApiChecker } from '../../support/openapi';

export const BASE = '/image-management/v1';
const chunkSpec = openApiChecker(path.resolve(__dirname, '../../../api-spec/file-management.yaml'));

/** Asserts that an answer of `method` on `route` (under BASE) is one api-spec/file-management.yaml documents. */
export function assertDocumented(res: Response, method: string, route: string): Response {
  chunkSpec.assertMatchesSpec(method, `${BASE}${route}`, res.status, res.headers as Record<string, string>, res.text ?? '');
  return res;
}
const BOUNDARY = 'glint-chunk-test-boundary';

/** One part of a multipart/form-data body: a text field, or a file when `fileName` is given. */
export type FormPart = { name: string; value: string | Buffer; fileName?: string };

/** A multipart/form-data body with the parts in the given order (the client decides the order). */
export function multipartBody(parts: readonly FormPart[]): { body: Buffer; contentType: string } {
  const pieces: Buffer[] = [];
  // quoted-string escapes, so the server reads the names exactly as given
  const quoted = (text: string) => `"${text.replace(/[\\"]/g, '\\$&')}"`;
  for (const part of parts) {
    const disposition = `form-data; name=${quoted(part.name)}` + (part.fileName === undefined ? '' : `; filename=${quoted(part.fileName)}`);
    const type = part.fileName === undefined ? '' : 'Content-Type: application/octet-stream\r\n';
    pieces.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`, 'latin1'), Buffer.from(part.value), Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return { body: Buffer.concat(pieces), contentType: `multipart/form-data; boundary=${BOUNDARY}` };
}

/** POST of `parts` as they are to `route`; the answer must be documented. */
export async function postForm(http: TestAgent, route: string, parts: readonly FormPart[]): Promise<Response> {
  const { body, contentType } = multipartBody(parts);
  return assertDocumented(await http.post(`${BASE}${route}`).set('Content-Type', contentType).send(body), 'post', route);
}

/** Posts chunk `index` (`<index>.part`) of `identifier`, the identifier before the part as browsers send it. */
export function postChunk(http: TestAgent, identifier: string, index: number, data: Buffer, extra: readonly FormPart[] = []): Promise<Response> {
  return postForm(http, '/images/upload', [{ name: 'identifier', value: identifier }, ...extra, { name: 'part', value: data, fileName: `${index}.part` }]);
}

export function merge(http: TestAgent, fields: Record<string, string>): Promise<Response> {
  return postForm(
    http,
    '/images/merge',
    Object.entries(fields).map(([name, value]) => ({ name, value })),
  );
}

/** The body of an answer as text (supertest leaves non-JSON bodies in `text`). */
export function textOf(res: Response): string {
  return res.text ?? '';
}

/** Asserts upstream's error form: the status and the message as a JSON string literal. */
export function assertError(res: Response, status: number, message: string | RegExp): void {
  assert.equal(res.status, status, textOf(res));
  const body = JSON.parse(textOf(res)) as unknown;
  assert.equal(typeof body, 'string', textOf(res));
  if (typeof message === 'string') assert.equal(body, message);
  else assert.match(body as string, message);
}

/** Chunk objects in the default store and chunk rows in the catalog: what a finished or refused upload must not leave. */
export async function staged(app: GlintApp): Promise<{ objects: string[]; uploads: number; chunks: number }> {
  const objects: string[] = [];
  for await (const key of app.stores.default.list('chunks/')) objects.push(key);
  const count = async (table: string) => Number(((await (app.catalog as KnexCatalog).knex(table).count({ n: '*' })) as Array<{ n: number | string }>)[0].n);
  return { objects, uploads: await count('chunked_uploads'), chunks: await count('upload_chunks') };
}

export async function assertNothingStaged(app: GlintApp): Promise<void> {
  assert.deepEqual(await staged(app), { objects: [], uploads: 0, chunks: 0 });
}

/** Ids of the Glance images the catalog lists (the merge's result is one). */
export async function glanceImageIds(http: TestAgent): Promise<string[]> {
  const res = await http.get('/v2/images?limit=1000');
  assert.equal(res.status, 200, res.text);
  return (res.body as { images: Array<{ id: string }> }).images.map((image) => image.id);
}
