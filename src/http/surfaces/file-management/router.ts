import { isIP } from 'node:net';
import Router from '@koa/router';
import type { Context } from 'koa';
import * as yazl from 'yazl';
import '../../../lib/native-crc32';
import type { RequestContext } from '../../../domain/context';
import { fail } from '../../../domain/errors';
import type { FileManagementService } from '../../../domain/file-management/service';
import { clientAbortSignal, releaseRequestBody, requestBodyStream } from '../../body';
import { resolveRequestedRange } from '../../range';
import { multipartBoundary, readStreamedForm, type StreamedForm } from './multipart';
import { presentDetails, presentStored } from './present';

export const BASE_PATH = '/image-management/v1';

/** What the chunk routes (chunk-routes.ts) get from this router: the service and the surface's helpers. */
export interface FileManagementRouteDeps {
  files: FileManagementService;
  who(ctx: Context): RequestContext;
  /** Upstream's client-address guard (400 `clientIp address is invalid`). */
  checkClientIp(ctx: Context): void;
  sendJson(ctx: Context, body: unknown): void;
  sendText(ctx: Context, text: string): void;
  /** Opens a multipart body for streaming (null file: no such part); call `close` and `releaseRequestBody` when done. */
  openForm(ctx: Context, fileField: string): Promise<{ form: StreamedForm | null; release(): void }>;
}

/** Registers extra routes before the `{imageId}` ones, so `upload` and `merge` win over an id. */
export type RouteRegistrar = (router: Router, deps: FileManagementRouteDeps) => void;

const who = (ctx: Context) => ctx.state.requestContext as RequestContext;

function sendJson(ctx: Context, body: unknown): void {
  ctx.status = 200;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(body);
}

function sendText(ctx: Context, text: string): void {
  ctx.status = 200;
  ctx.type = 'text/plain; charset=utf-8';
  ctx.body = text;
}

function checkClientIp(ctx: Context): void {
  const address = ctx.req.socket.remoteAddress ?? '';
  if (isIP(address.replace(/^::ffff:/, '')) === 0 && isIP(address) === 0) fail('BAD_REQUEST', 'clientIp address is invalid');
}

async function openForm(ctx: Context, fileField: string): Promise<{ form: StreamedForm | null; release(): void }> {
  const boundary = multipartBoundary(ctx.get('content-type'));
  const body = requestBodyStream(ctx);
  if (boundary === null) return { form: null, release: () => releaseRequestBody(ctx, body) };
  const form = await readStreamedForm(body, boundary, fileField);
  return {
    form,
    release() {
      form.close();
      releaseRequestBody(ctx, body);
    },
  };
}

/** The routes of `/image-management/v1`: parse → call the file-management service → present. */
export function createFileManagementRouter(files: FileManagementService, registerExtraRoutes: RouteRegistrar[] = []): Router {
  const router = new Router({ prefix: BASE_PATH });
  const deps: FileManagementRouteDeps = { files, who, checkClientIp, sendJson, sendText, openForm };
  for (const register of registerExtraRoutes) register(router, deps);

  router.post('/images', async (ctx) => {
    checkClientIp(ctx);
    const { form, release } = await openForm(ctx, 'file');
    try {
      if (!form?.file) fail('FILE_UPLOAD_MISSING', 'Upload package file error');
      const early = form.fields;
      const late = form.complete.then((all) => ({
        userId: early.has('userId') ? undefined : all.get('userId'),
        priority: early.has('priority') ? undefined : all.get('priority'),
      }));
      late.catch(() => undefined);
      const stored = await files.storeFile(who(ctx), {
        fileName: baseName(form.file.fileName),
        userId: early.get('userId') ?? '',
        priority: early.get('priority') ?? '',
        source: form.file.stream,
        signal: clientAbortSignal(ctx),
        lateFields: late,
      });
      sendJson(ctx, presentStored(stored));
    } finally {
      release();
    }
  });

  router.get('/images', async (ctx) => {
    checkClientIp(ctx);
    const list = await files.list();
    sendJson(ctx, list.map((details) => presentDetails(details, true)));
  });

  router.get('/images/:imageId', async (ctx) => {
    sendJson(ctx, presentDetails(await files.get(ctx.params.imageId)));
  });

  router.delete('/images/:imageId', async (ctx) => {
    await files.delete(who(ctx), ctx.params.imageId);
    sendText(ctx, 'delete success');
  });

  router.get('/images/:imageId/action/download', async (ctx) => {
    checkClientIp(ctx);
    const isZip = firstQueryValue(ctx.query.isZip) === 'true';
    const { fileName, read } = await files.download(who(ctx), ctx.params.imageId, (size) =>
      isZip ? null : resolveRequestedRange(ctx.get('range') || undefined, undefined, size),
    );
    const stem = withoutExtension(fileName);
    setAttachmentHeaders(ctx, isZip ? `${stem}.zip` : fileName);
    const body = read.kind === 'empty' ? Buffer.alloc(0) : read.body;
    if (isZip) {
      const zip = new yazl.ZipFile();
      const entryName = `${stem}/${fileName}`;
      if (Buffer.isBuffer(body)) zip.addBuffer(body, entryName, { compress: false });
      else zip.addReadStream(body, entryName, { compress: false, size: read.kind === 'data' ? read.length : 0 });
      let total = -1;
      // @types/yazl drops the callback's argument: the archive's total size, known up front for stored entries
      const onTotalSize = (size: number) => (total = size);
      zip.end(undefined, onTotalSize as unknown as () => void);
      ctx.status = 200;
      if (total >= 0) ctx.length = total;
      ctx.body = zip.outputStream;
      return;
    }
    ctx.set('Accept-Ranges', 'bytes');
    if (read.kind === 'data' && read.range) {
      ctx.status = 206;
      ctx.set('Content-Range', `bytes ${read.range.start}-${read.range.end}/${read.totalSize}`);
    } else {
      ctx.status = 200;
    }
    ctx.length = read.kind === 'data' ? read.length : 0;
    ctx.body = body;
  });

  router.post('/images/:imageId/action/slim', async (ctx) => {
    checkClientIp(ctx);
    const outcome = await files.slim(who(ctx), ctx.params.imageId);
    if (outcome === 'already_running') return sendText(ctx, 'The image file is being slimmed. No need to slim again.');
    if (outcome === 'already_slimmed') return sendText(ctx, 'The image file has already been slimmed. No need to slim again. Pls request to check directly');
    sendText(ctx, 'compress in progress');
  });

  return router;
}

/** The last segment of a client's file name (a browser may send a path). */
function baseName(fileName: string): string {
  return fileName.slice(Math.max(fileName.lastIndexOf('/'), fileName.lastIndexOf('\\')) + 1);
}

/** Go's query lookup: the first value. */
function firstQueryValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The name without its last extension (Go's strings.TrimSuffix(name, filepath.Ext(name))). */
export function withoutExtension(fileName: string): string {
  const dot = fileName.lastIndexOf('.');
  return dot > fileName.lastIndexOf('/') && dot >= 0 ? fileName.slice(0, dot) : fileName;
}

/** Upstream's download headers (beego's download helper). */
function setAttachmentHeaders(ctx: Context, name: string): void {
  const plain = /^[\x20-\x7e]*$/.test(name) && !/["\\]/.test(name);
  const disposition = plain ? `attachment; filename=${name}` : `attachment; filename=${encodeURIComponent(name)}; filename*=utf-8''${encodeURIComponent(name)}`;
  ctx.set('Content-Disposition', disposition);
  ctx.set('Content-Description', 'File Transfer');
  ctx.type = 'application/octet-stream';
  ctx.set('Content-Transfer-Encoding', 'binary');
  ctx.set('Expires', '0');
  ctx.set('Cache-Control', 'must-revalidate');
  ctx.set('Pragma', 'public');
}
