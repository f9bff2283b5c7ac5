import type Router from '@koa/router';
import type { Context } from 'koa';
import { GlintError, fail, isGlintError } from '../../../domain/errors';
import type { ChunkFields, ChunkedUploadService } from '../../../domain/file-management/chunked-uploads';
import { isAcceptedFileName } from '../../../domain/file-management/rules';
import { clientAbortSignal, contentLength, mediaType, releaseRequestBody, requestBodyStream } from '../../body';
import { presentStored } from './present';
import type { FileManagementRouteDeps, RouteRegistrar } from './router';

/** Largest urlencoded form read for a cancel or merge (its fields are an id and a few names). */
const MAX_FORM_BYTES = 64 * 1024;
/** No file is read from a cancel's or merge's form: its parts are skipped. */
const NO_FILE_FIELD = '\u0000';

const MERGE_NAME_REFUSED = 'File should only be image file or filename is larger than max size';
/** Upstream's answer to parts that are not 1.part … N.part: two JSON strings back to back (decision 1: 400, not 500). */
const PARTS_MISSING_BODY = '"fail to open the part file in path""fail to merge part files"';

/**
 * EdgeGallery's chunked upload under `/image-management/v1`: POST / DELETE / GET `/images/upload`
 * (stage a chunk, cancel, probe) and POST / GET `/images/merge` (assemble, probe). Registered on
 * the file-management router before its `{imageId}` routes. Chunks stream from the multipart body
 * into the store; any node may take any chunk, cancel or merge.
 */
export function chunkRoutes(chunks: ChunkedUploadService): RouteRegistrar {
  return (router: Router, deps: FileManagementRouteDeps) => {
    router.post('/images/upload', async (ctx) => {
      deps.checkClientIp(ctx);
      const { form, release } = await deps.openForm(ctx, 'part');
      try {
        if (!form?.file) fail('FILE_UPLOAD_MISSING', 'Upload package file error');
        const allFields = form.complete.then(chunkFields);
        allFields.catch(() => undefined);
        await chunks.receiveChunk(deps.who(ctx), {
          fields: chunkFields(form.fields),
          allFields,
          partName: form.file.fileName,
          source: form.file.stream,
          signal: clientAbortSignal(ctx),
        });
        deps.sendText(ctx, 'ok.');
      } finally {
        release();
      }
    });

    router.delete('/images/upload', async (ctx) => {
      deps.checkClientIp(ctx);
      const fields = await readFields(ctx, deps);
      await chunks.cancel(fields.get('identifier') ?? '');
      deps.sendText(ctx, 'cancel success');
    });

    router.get('/images/upload', (ctx) => deps.sendText(ctx, 'Upload get request received.'));

    router.post('/images/merge', async (ctx) => {
      deps.checkClientIp(ctx);
      const fields = await readFields(ctx, deps);
      const fileName = fields.get('filename') ?? '';
      if (!isAcceptedFileName(fileName) || /[/\\\0]/.test(fileName)) fail('FILE_NAME_INVALID', MERGE_NAME_REFUSED);
      try {
        const stored = await chunks.merge(deps.who(ctx), {
          identifier: fields.get('identifier') ?? '',
          fileName,
          userId: fields.get('userId') ?? '',
          priority: fields.get('priority') ?? '',
          signal: clientAbortSignal(ctx),
        });
        deps.sendJson(ctx, presentStored(stored));
      } catch (err) {
        if (isGlintError(err, 'CHUNKED_UPLOAD_NOT_FOUND')) throw new GlintError('CHUNKED_UPLOAD_NOT_FOUND', 'fail to find the file path', undefined, { cause: err });
        if (!isGlintError(err, 'CHUNKED_UPLOAD_INCOMPLETE')) throw err;
        ctx.status = 400;
        // not one JSON document: served as Go's sniffing served it
        ctx.type = 'text/plain; charset=utf-8';
        ctx.body = PARTS_MISSING_BODY;
      }
    });

    router.get('/images/merge', (ctx) => deps.sendText(ctx, 'Merge get request received.'));
  };
}

function chunkFields(fields: ReadonlyMap<string, string>): ChunkFields {
  return { identifier: fields.get('identifier'), priority: fields.get('priority') };
}

/**
 * A cancel's or merge's fields, as Go's FormValue finds them: the body's (multipart or
 * urlencoded) over the query string's.
 */
async function readFields(ctx: Context, deps: FileManagementRouteDeps): Promise<Map<string, string>> {
  const fields = new Map<string, string>();
  for (const [name, value] of Object.entries(ctx.query)) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) fields.set(name, first);
  }
  const type = mediaType(ctx);
  if (type === 'multipart/form-data') {
    const { form, release } = await deps.openForm(ctx, NO_FILE_FIELD);
    try {
      if (form) for (const [name, value] of await form.complete.catch(() => form.fields)) fields.set(name, value);
    } finally {
      release();
    }
  } else if (type === 'application/x-www-form-urlencoded') {
    const body = new Map<string, string>();
    for (const [name, value] of new URLSearchParams(await readSmallBody(ctx))) if (!body.has(name)) body.set(name, value);
    for (const [name, value] of body) fields.set(name, value);
  }
  return fields;
}

async function readSmallBody(ctx: Context): Promise<string> {
  const declared = contentLength(ctx);
  if (declared !== undefined && declared > MAX_FORM_BYTES) fail('BAD_REQUEST', `the form is larger than ${MAX_FORM_BYTES} bytes`);
  const body = requestBodyStream(ctx);
  try {
    const pieces: Buffer[] = [];
    let size = 0;
    for await (const piece of body) {
      size += (piece as Buffer).length;
      if (size > MAX_FORM_BYTES) fail('BAD_REQUEST', `the form is larger than ${MAX_FORM_BYTES} bytes`);
      pieces.push(piece as Buffer);
    }
    return Buffer.concat(pieces).toString('utf8');
  } finally {
    releaseRequestBody(ctx, body);
  }
}
